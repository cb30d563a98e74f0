//! "Did you mean" for names a user typed: a source type, a KPI key, a
//! table, a channel.

/// The closest of `candidates` to `word`, when it is close enough to be a
/// typo of it (`googleads` → `google_ads`, `ad_performanc` →
/// `ad_performance`): at most one edit per three characters, ignoring case.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word_l = word.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&word_l, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= (c.chars().count().max(word.chars().count()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn typos_find_their_name_and_strangers_nothing() {
        let names = ["ad_performance", "crm_deals", "web_traffic", "google_ads"];
        assert_eq!(closest("ad_performanc", names), Some("ad_performance"));
        assert_eq!(closest("googleads", names), Some("google_ads"));
        assert_eq!(closest("CRM_DEAL", names), Some("crm_deals"));
        assert_eq!(closest("invoices", names), None);
    }
}
