//! Misbehaviour on demand: rules that make matching requests fail the way
//! the real APIs fail (429 with `Retry-After`, 500, an expired token, a
//! slow answer, a body cut short or not JSON), each in the failing API's
//! own error format.
//!
//! Rules are set when the sandbox starts ([`super::SandboxConfig::faults`]),
//! replaced at run time through [`super::SandboxHandle::set_faults`] or
//! `POST /_sandbox/faults` (so a test can drive a `kpi sandbox serve`
//! running in another process), and inspected with `GET /_sandbox/faults`,
//! which shows how often each rule matched and fired.
//!
//! Matching: a rule sees every API request whose path contains
//! `path_contains` (and whose method is `method`, if given). It lets the
//! first `after` of them through, then fires on each following one, `times`
//! times at most (forever if unset). When several rules fire on one
//! request, every `Delay` adds up and the first other rule decides the
//! answer.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::emulation::Emulation;
use super::http::{ApiRequest, Reply};

/// One rule: which requests, what goes wrong, how often.
///
/// ```json
/// {"path_contains": "googleAds:searchStream", "method": "POST",
///  "kind": {"type": "too_many_requests", "retry_after_secs": 1},
///  "times": 2, "after": 0}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// The rule applies to requests whose path (without the query) contains
    /// this text, e.g. `/insights`, `:runReport`, `/token`. Empty matches
    /// every API request (never the `/_sandbox/` control endpoints).
    pub path_contains: String,
    /// Only requests with this method (`GET`, `POST`; any case). Unset:
    /// every method.
    #[serde(default)]
    pub method: Option<String>,
    /// What happens to a request the rule fires on.
    pub kind: FaultKind,
    /// Fire at most this many times, then let requests through again.
    /// Unset: on every matching request after the first `after`.
    #[serde(default)]
    pub times: Option<u32>,
    /// Let this many matching requests through before firing (to fail the
    /// third page, say `after: 2`).
    #[serde(default)]
    pub after: u32,
}

impl FaultRule {
    /// A rule firing on every request whose path contains `path_contains`.
    pub fn new(path_contains: impl Into<String>, kind: FaultKind) -> Self {
        FaultRule {
            path_contains: path_contains.into(),
            method: None,
            kind,
            times: None,
            after: 0,
        }
    }

    /// Fire at most `times` times.
    pub fn times(mut self, times: u32) -> Self {
        self.times = Some(times);
        self
    }

    /// Let the first `after` matching requests through.
    pub fn after(mut self, after: u32) -> Self {
        self.after = after;
        self
    }

    /// Only requests with `method`.
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        path.contains(&self.path_contains)
            && self
                .method
                .as_ref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
    }
}

/// What a fired rule does. In JSON, `{"type": "server_error"}`,
/// `{"type": "delay", "ms": 200}`, ...
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultKind {
    /// `429 Too Many Requests` with `Retry-After: <retry_after_secs>` and
    /// the API's quota error body. (Meta really sends its throttling codes
    /// with a 400; this fault exercises the shared client's 429 handling,
    /// with Meta's code-80004 body.)
    TooManyRequests {
        /// Seconds in the `Retry-After` header.
        retry_after_secs: u32,
    },
    /// `500` with the API's internal-error body.
    ServerError,
    /// Answer normally, `ms` milliseconds late (on top of `latency_ms`).
    Delay {
        /// Extra milliseconds.
        ms: u64,
    },
    /// The access token the request carried has expired: the API's
    /// expired-token error (Google and HubSpot 401, Meta 400 code 190), and
    /// the token is revoked so it stays refused. On a token endpoint: the
    /// refresh token has expired (`400 invalid_grant`).
    ExpiredToken,
    /// The real answer, cut after half of its body with the connection
    /// dropped; `Content-Length` announces the whole body.
    Truncated,
    /// The real answer with bytes inserted that make it invalid JSON,
    /// status 200.
    Malformed,
}

/// A rule with its counters, as `GET /_sandbox/faults` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultStatus {
    /// The rule.
    #[serde(flatten)]
    pub rule: FaultRule,
    /// Requests the rule matched (fired or not).
    pub matched: u32,
    /// Requests it fired on.
    pub fired: u32,
}

/// What the rules decided for one request.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Decision {
    /// Total `Delay` to wait before answering.
    pub delay: Duration,
    /// The fault that shapes the answer, if any.
    pub fault: Option<FaultKind>,
}

/// The current rules and their counters.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    rules: Vec<FaultStatus>,
}

impl Faults {
    pub fn new(rules: Vec<FaultRule>) -> Self {
        Faults {
            rules: rules
                .into_iter()
                .map(|rule| FaultStatus {
                    rule,
                    matched: 0,
                    fired: 0,
                })
                .collect(),
        }
    }

    pub fn status(&self) -> Vec<FaultStatus> {
        self.rules.clone()
    }

    /// Counts the request against every matching rule and decides.
    pub fn decide(&mut self, method: &str, path: &str) -> Decision {
        let mut decision = Decision::default();
        for s in &mut self.rules {
            if !s.rule.matches(method, path) {
                continue;
            }
            s.matched += 1;
            let due = s.matched > s.rule.after && s.rule.times.is_none_or(|t| s.fired < t);
            if !due {
                continue;
            }
            match &s.rule.kind {
                FaultKind::Delay { ms } => {
                    decision.delay += Duration::from_millis(*ms);
                    s.fired += 1;
                }
                // One answer per request: a second error rule waits for
                // its own request rather than being used up unseen.
                _ if decision.fault.is_some() => {}
                kind => {
                    decision.fault = Some(kind.clone());
                    s.fired += 1;
                }
            }
        }
        decision
    }
}

/// The answer of a fault that replaces the API's answer (429, 500, expired
/// token) to `req`, in `api`'s error format. `None` for faults that mangle the real
/// answer instead (or only delay it).
pub(crate) fn error_reply(
    api: &dyn Emulation,
    req: &ApiRequest,
    kind: &FaultKind,
) -> Option<Reply> {
    let reply = match kind {
        FaultKind::TooManyRequests { retry_after_secs } => api
            .rate_limited(req, *retry_after_secs)
            .header("retry-after", retry_after_secs.to_string()),
        FaultKind::ServerError => api.internal_error(req),
        FaultKind::ExpiredToken => api.token_expired(req),
        FaultKind::Delay { .. } | FaultKind::Truncated | FaultKind::Malformed => return None,
    };
    Some(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_and_times_count_matching_requests() {
        let mut f = Faults::new(vec![
            FaultRule::new("/insights", FaultKind::ServerError)
                .after(1)
                .times(2),
            FaultRule::new("", FaultKind::Delay { ms: 5 }).method("post"),
        ]);
        let get = |f: &mut Faults| f.decide("GET", "/v23.0/act_1/insights").fault;
        assert_eq!(get(&mut f), None);
        assert_eq!(get(&mut f), Some(FaultKind::ServerError));
        assert_eq!(get(&mut f), Some(FaultKind::ServerError));
        assert_eq!(get(&mut f), None);
        assert_eq!(f.decide("GET", "/token"), Decision::default());
        let d = f.decide("POST", "/v23.0/act_1/insights");
        assert_eq!((d.delay, d.fault), (Duration::from_millis(5), None));
        let s = f.status();
        assert_eq!((s[0].matched, s[0].fired), (5, 2));
        assert_eq!((s[1].matched, s[1].fired), (1, 1));
    }

    #[test]
    fn json_shape() {
        let rules: Vec<FaultRule> = serde_json::from_str(
            r#"[{"path_contains": ":runReport", "kind": {"type": "too_many_requests", "retry_after_secs": 1}, "times": 1},
                {"path_contains": "/token", "method": "POST", "kind": {"type": "expired_token"}, "after": 2}]"#,
        )
        .unwrap();
        assert_eq!(
            rules[0],
            FaultRule::new(
                ":runReport",
                FaultKind::TooManyRequests {
                    retry_after_secs: 1
                }
            )
            .times(1)
        );
        assert_eq!(rules[1].kind, FaultKind::ExpiredToken);
        assert_eq!(rules[1].after, 2);
        assert!(
            serde_json::from_str::<FaultRule>(r#"{"path_contains": "", "kind": {"type": "boom"}}"#)
                .is_err()
        );
    }
}
