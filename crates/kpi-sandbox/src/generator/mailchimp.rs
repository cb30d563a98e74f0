//! Mailchimp: the day's sends, their reports and campaigns.

use super::*;

/// The day's sends of market `m`: a report (`reports`, on the send day) and a
/// campaign (`campaigns`, the snapshot) each. The report is as of `end`, the
/// last generated day: opens and clicks that came after the send day are in
/// it, and its last open and click are no later than `end`.
pub(super) fn mailchimp_day(
    rng: &mut ChaCha8Rng,
    (table, campaigns): (&mut Table, &mut Table),
    m: &mut Market,
    (date, end): (NaiveDate, NaiveDate),
    growth: f64,
    volume: f64,
) {
    // The list grows more slowly than traffic: not every lead opts in.
    let list = 12_000.0 * m.size * volume * growth.powf(0.8);
    let list_name = format!("Example SaaS Newsletter{}", m.tag);
    let last_ms = madrid_ms(end, 23 * 3600 + 59 * 60);
    let mut title = String::new();
    for (e, tpl) in EMAILS.iter().enumerate() {
        if !email_sends_on(e, date) {
            continue;
        }
        let sent = poisson(rng, list * tpl.audience);
        if sent == 0 {
            continue;
        }
        let hard = binomial(rng, sent, 0.003);
        let soft = binomial(rng, sent, 0.008);
        let syntax = binomial(rng, sent, 0.0001);
        let delivered = sent - hard - soft - syntax;
        let (open_rate, click_rate, unsubscribe_rate) = (
            tpl.open_rate * noise(rng, 0.1),
            tpl.click_rate / tpl.open_rate * noise(rng, 0.15),
            tpl.unsubscribe_rate * noise(rng, 0.2),
        );
        let opens = binomial(rng, delivered, open_rate);
        // Clicks per open: the click rate is per delivered email.
        let clicks = binomial(rng, opens, click_rate);
        let forwards = binomial(rng, opens, 0.008);
        let unsubscribed = binomial(rng, delivered, unsubscribe_rate);
        let abuse = poisson(rng, sent as f64 * 0.00005);
        // Visits: each clicker visits a bit more than once, mostly on the send day.
        for (day, share) in EMAIL_VISIT_DECAY.iter().enumerate() {
            m.email_visits[e][day] += clicks as f64 * 1.4 * share;
        }
        m.emails_sent += 1;
        // Unique per market and send; the xor only makes it look like Mailchimp's.
        let id = ((m.emails_sent & 0xff_ffff) | ((m.index as u64 & 0xffff) << 24)) ^ 0x5a_3c91_e7b4;
        title.clear();
        let month = MONTH_NAMES[date.month0() as usize];
        let _ = match e {
            0 => write!(title, "{} - {month} {}", m.email_names[e], date.year()),
            1 => write!(
                title,
                "{} - {month} {} #{}",
                m.email_names[e],
                date.year(),
                if date.day() <= 14 { 1 } else { 2 }
            ),
            _ => write!(
                title,
                "{} - Week {} {}",
                m.email_names[e],
                date.iso_week().week(),
                date.iso_week().year()
            ),
        };
        let mut id_text = [0u8; 10];
        let id_text = hex10(&mut id_text, id);
        let send_ms = madrid_ms(date, tpl.send_at);
        // Mailchimp's rates are of the delivered emails, as fractions, here to
        // six decimals: a JSON parser reads those back exactly, where one
        // without correct rounding may miss a 17-digit value by its last bit.
        // The totals count repeats (an open on two devices, two links
        // clicked): fixed multiples, so that no random draw moves the other
        // numbers.
        let rate = |n: u64| {
            if delivered == 0 {
                0.0
            } else {
                (n as f64 / delivered as f64 * 1e6).round() / 1e6
            }
        };
        let last = |n: u64, days: i64| (n > 0).then(|| (send_ms + days * 86_400_000).min(last_ms));
        table
            .row()
            .str(id_text)
            .str(&title)
            .str(tpl.kind)
            .str(&m.list_id)
            .str(&list_name)
            .str(tpl.subject)
            .ts(Some(send_ms))
            .count(sent)
            .count(abuse)
            .count(unsubscribed)
            .count(hard)
            .count(soft)
            .count(syntax)
            .count(forwards)
            .count(forwards + forwards / 2)
            .count(opens + opens * 7 / 10)
            .count(opens)
            .float(rate(opens))
            .ts(last(opens, 6))
            .count(clicks + clicks / 2)
            .count(clicks + clicks / 5)
            .count(clicks)
            .float(rate(clicks))
            .ts(last(clicks, 3))
            .end();
        // The campaign, with Google Analytics tracking on: its links carry
        // utm_campaign=<the email's key>.
        campaigns
            .row()
            .str(id_text)
            .str(tpl.kind)
            .str("sent")
            .ts(Some(send_ms))
            .opt_str(Some(&title))
            .opt_str(Some(&m.email_keys[e]))
            .end();
    }
}

/// The low 40 bits of `v` as 10 lowercase hex digits (Mailchimp-style ids).
pub(super) fn hex10(buf: &mut [u8; 10], v: u64) -> &str {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in buf.iter_mut().enumerate() {
        *b = HEX[((v >> (4 * (9 - i))) & 0xf) as usize];
    }
    std::str::from_utf8(buf).expect("ascii")
}
