//! Campaign keys: how one campaign is recognised across sources.

/// Normalises a campaign name or `utm_campaign` value to the key that joins a
/// campaign across sources: lower case, every run of characters other than
/// letters and digits replaced by `_`, no `_` at either end.
/// `"Brand Search - ES"` and `"brand_search_es"` both give `brand_search_es`.
pub fn campaign_key(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending_sep = false;
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            if pending_sep && !out.is_empty() {
                out.push('_');
            }
            pending_sep = false;
            out.push(c);
        } else {
            pending_sep = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn campaign_keys_join_names_and_utm_values() {
        assert_eq!(campaign_key("Brand Search - ES"), "brand_search_es");
        assert_eq!(campaign_key("brand_search_es"), "brand_search_es");
        assert_eq!(campaign_key("  Webinar: Q4!! "), "webinar_q4");
        assert_eq!(campaign_key("Campaña Otoño"), "campaña_otoño");
        assert_eq!(campaign_key("---"), "");
    }
}
