//! Microsoft Advertising's refusals: which are its rate limit, and what a
//! person can do about the others.
//!
//! The shared client turns a fault body (`OperationErrors`, `BatchErrors`
//! or `Errors`, each with `Code`, `ErrorCode` and `Message`, plus the
//! `TrackingId`) into `Message (code 105 InvalidCredentials) [TrackingId
//! ...]`, so the codes are read back from that text here.

/// Error 117 `CallRateExceeded`: too many calls in a minute. Sent as HTTP
/// 429 it is the shared client's ordinary retry (with `Retry-After`); sent
/// as a 400 fault, the throttle rule built from [`is_throttled`] waits it
/// out.
pub const CALL_RATE_EXCEEDED: u32 = 117;
/// Error 105 `InvalidCredentials`: the access token or the developer token
/// was refused.
pub const INVALID_CREDENTIALS: u32 = 105;
/// Error 106 `UserIsNotAuthorized`: the user may not act on the customer
/// or account named in the headers.
pub const USER_IS_NOT_AUTHORIZED: u32 = 106;

/// The codes in a message the shared client built from a fault body.
pub fn codes(message: &str) -> Vec<u32> {
    message
        .match_indices("(code ")
        .filter_map(|(at, m)| {
            let rest = &message[at + m.len()..];
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            rest[..end].parse().ok()
        })
        .collect()
}

/// The shared client's throttle rule: a 400 fault carrying code 117 (a 429
/// is retried as every 429 is).
pub(crate) fn is_throttled(status: u16, message: &str) -> bool {
    status == 400 && codes(message).contains(&CALL_RATE_EXCEEDED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_back() {
        let m = "Authentication failed. (code 105 InvalidCredentials); x (code 117) [TrackingId a]";
        assert_eq!(codes(m), [105, 117]);
        assert!(is_throttled(400, m));
        assert!(!is_throttled(429, m));
        assert!(!is_throttled(401, m));
        assert!(!is_throttled(400, "Invalid request (code 100 NullRequest)"));
        assert!(codes("no codes here").is_empty());
    }
}
