//! Secrets: read from the environment by name, never printed, and scrubbed
//! from every message this crate produces.
//!
//! Two layers, because neither alone is enough: known values are replaced
//! wherever they appear (an API may echo a token in an error body), and
//! anything that looks like a credential in a query string or form body is
//! replaced even when its value is not known (a `nextPageToken` URL, a key a
//! connector put in the URL itself).

use std::fmt;
use std::sync::{Arc, RwLock};

use serde::Deserialize;

/// What replaces a secret in text.
pub const REDACTED: &str = "***";

/// Values shorter than this are not scrubbed by value: replacing every "1" or
/// "ab" in a message would make it unreadable and protect nothing.
const MIN_SECRET_LEN: usize = 4;

/// A credential. `Debug` and `Display` print `***`; the value is reachable
/// only through [`Secret::expose`], so leaking it takes a visible call.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for putting it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Where a secret comes from, as written in `kpi.toml`:
/// `refresh_token = { env = "GOOGLE_ADS_REFRESH_TOKEN" }`.
/// The config names the variable; the value never appears in the file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// Name of the environment variable that holds the value.
    pub env: String,
}

impl SecretRef {
    /// A reference to the environment variable `name`.
    pub fn env(name: impl Into<String>) -> Self {
        SecretRef { env: name.into() }
    }

    /// Reads the variable from the process environment.
    pub fn resolve(&self) -> Result<Secret, SecretError> {
        match std::env::var(&self.env) {
            Ok(value) => self.check(value),
            Err(std::env::VarError::NotPresent) => Err(SecretError::Missing {
                env: self.env.clone(),
            }),
            Err(std::env::VarError::NotUnicode(_)) => Err(SecretError::NotUnicode {
                env: self.env.clone(),
            }),
        }
    }

    /// Reads the value through `lookup` (a secrets file layered over the
    /// environment, or a fixed map in tests, where mutating the process
    /// environment is unsafe).
    pub fn resolve_with(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Secret, SecretError> {
        match lookup(&self.env) {
            Some(value) => self.check(value),
            None => Err(SecretError::Missing {
                env: self.env.clone(),
            }),
        }
    }

    fn check(&self, value: String) -> Result<Secret, SecretError> {
        // Trailing newlines creep in from `echo $TOKEN > file` and `$(cat …)`;
        // they would make every request fail with an opaque 401.
        let value = value.trim();
        if value.is_empty() {
            return Err(SecretError::Empty {
                env: self.env.clone(),
            });
        }
        Ok(Secret::new(value))
    }
}

/// A secret could not be read. Messages name the variable, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The variable is not set.
    #[error("environment variable {env} is not set")]
    Missing {
        /// The variable's name.
        env: String,
    },
    /// The variable is set but empty or only whitespace.
    #[error("environment variable {env} is empty")]
    Empty {
        /// The variable's name.
        env: String,
    },
    /// The variable holds bytes that are not UTF-8.
    #[error("environment variable {env} is not valid UTF-8")]
    NotUnicode {
        /// The variable's name.
        env: String,
    },
}

/// The set of secret values one source knows about, shared by its HTTP
/// client and everything that formats its errors. Access tokens obtained at
/// runtime are added as they arrive; old ones stay, since an expired token
/// is still a credential someone could replay against a log.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Arc<RwLock<Vec<String>>>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.secrets.read().map(|s| s.len()).unwrap_or(0);
        write!(f, "Redactor({n} secrets)")
    }
}

impl Redactor {
    /// An empty set: only name-based scrubbing applies.
    pub fn new() -> Self {
        Self::default()
    }

    /// Remembers `secret` so it is scrubbed from every later message.
    pub fn add(&self, secret: &Secret) {
        let value = secret.expose();
        if value.len() < MIN_SECRET_LEN {
            return;
        }
        // A poisoned lock only means another thread panicked mid-push; the
        // list itself is still a valid Vec.
        let mut secrets = self.secrets.write().unwrap_or_else(|e| e.into_inner());
        if !secrets.iter().any(|s| s == value) {
            secrets.push(value.to_string());
            // Longest first, so a secret that contains another is replaced whole.
            secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// `text` with every known secret and every credential-like parameter
    /// replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let secrets = self.secrets.read().unwrap_or_else(|e| e.into_inner());
        let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
        redact(text, &refs)
    }
}

/// `text` with every value in `secrets` (raw or percent-encoded), every
/// credential-like `name=value` parameter, every credential-like JSON string
/// member and every `Bearer` token replaced by `***`.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    let mut sorted: Vec<&str> = secrets
        .iter()
        .copied()
        .filter(|s| s.len() >= MIN_SECRET_LEN)
        .collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in sorted {
        out = out.replace(secret, REDACTED);
        // In URLs and form bodies a token with `/`, `+` or `=` appears encoded.
        for encoded in [percent_encode(secret, false), percent_encode(secret, true)] {
            if encoded != secret {
                out = out.replace(&encoded, REDACTED);
            }
        }
    }
    let out = redact_params(&out);
    let out = redact_json_members(&out);
    redact_bearer(&out)
}

/// Whether a parameter or JSON member called `name` holds a credential.
pub fn is_sensitive_name(name: &str) -> bool {
    let n: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    n.contains("token")
        || n.contains("secret")
        || n.contains("password")
        || n.contains("passwd")
        || n.contains("signature")
        || n.contains("authorization")
        || n.ends_with("key")
}

/// Whether a query parameter called `name` carries a credential whose value
/// should be remembered as a secret. Narrower than [`is_sensitive_name`]:
/// paging cursors (`pageToken`, `after`) change every page and would grow
/// the redactor without protecting anything.
pub fn is_credential_param(name: &str) -> bool {
    let n: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    matches!(
        n.as_str(),
        "accesstoken"
            | "token"
            | "idtoken"
            | "refreshtoken"
            | "key"
            | "apikey"
            | "clientsecret"
            | "secret"
            | "password"
            | "signature"
            | "appsecretproof"
    )
}

fn percent_encode(s: &str, upper: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else if upper {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'[' | b']')
}

fn is_value_end(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'&' | b'"' | b'\'' | b'#' | b')' | b',' | b';' | b'<' | b'>' | b'}'
        )
}

/// `name=value` pairs (query strings, form bodies, `key=value` in prose).
fn redact_params(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'=' {
            i += 1;
            continue;
        }
        let mut start = i;
        while start > 0 && is_name_byte(bytes[start - 1]) {
            start -= 1;
        }
        let name = &text[start..i];
        let mut end = i + 1;
        while end < bytes.len() && !is_value_end(bytes[end]) {
            end += 1;
        }
        if !name.is_empty()
            && end > i + 1
            && is_sensitive_name(name)
            && &text[i + 1..end] != REDACTED
        {
            out.push_str(&text[copied..=i]);
            out.push_str(REDACTED);
            copied = end;
        }
        i = end.max(i + 1);
    }
    out.push_str(&text[copied..]);
    out
}

/// `"name": "value"` members of JSON bodies quoted in messages.
fn redact_json_members(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'"' {
            i += 1;
            continue;
        }
        // A quoted name, then optional spaces, a colon, optional spaces, a quote.
        let name_start = i + 1;
        let Some(name_len) = text[name_start..].find('"') else {
            break;
        };
        let name_end = name_start + name_len;
        let mut j = name_end + 1;
        while j < bytes.len() && bytes[j] == b' ' {
            j += 1;
        }
        if j >= bytes.len() || bytes[j] != b':' {
            i = name_end + 1;
            continue;
        }
        j += 1;
        while j < bytes.len() && bytes[j] == b' ' {
            j += 1;
        }
        if j >= bytes.len() || bytes[j] != b'"' || !is_sensitive_name(&text[name_start..name_end]) {
            i = name_end + 1;
            continue;
        }
        let value_start = j + 1;
        let mut k = value_start;
        while k < bytes.len() && bytes[k] != b'"' {
            k += if bytes[k] == b'\\' { 2 } else { 1 };
        }
        let value_end = k.min(bytes.len());
        if value_end > value_start {
            out.push_str(&text[copied..value_start]);
            out.push_str(REDACTED);
            copied = value_end;
        }
        i = value_end + 1;
    }
    if copied < text.len() {
        out.push_str(&text[copied..]);
    }
    out
}

/// `Bearer <token>` as it appears in a quoted `Authorization` header.
fn redact_bearer(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(pos) = lower[search..].find("bearer ") {
        let value_start = search + pos + "bearer ".len();
        let mut end = value_start;
        let bytes = text.as_bytes();
        while end < bytes.len() && !is_value_end(bytes[end]) {
            end += 1;
        }
        if end > value_start && &text[value_start..end] != REDACTED {
            out.push_str(&text[copied..value_start]);
            out.push_str(REDACTED);
            copied = end;
        }
        search = end.max(value_start);
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints_its_value() {
        let s = Secret::new("hunter2-long");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(***)");
        assert_eq!(s.expose(), "hunter2-long");
    }

    #[test]
    fn secret_ref_names_the_variable_not_the_value() {
        let r = SecretRef::env("KPI_TEST_SURELY_UNSET_VARIABLE_8f3a");
        let err = r.resolve().unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable KPI_TEST_SURELY_UNSET_VARIABLE_8f3a is not set"
        );
        let lookup = |name: &str| (name == "TOKEN").then(|| "  abc-secret-value\n".to_string());
        let s = SecretRef::env("TOKEN").resolve_with(&lookup).unwrap();
        assert_eq!(s.expose(), "abc-secret-value");
        let empty = |_: &str| Some(" \n".to_string());
        let err = SecretRef::env("TOKEN").resolve_with(&empty).unwrap_err();
        assert_eq!(err.to_string(), "environment variable TOKEN is empty");
    }

    #[test]
    fn secret_ref_from_toml() {
        #[derive(Deserialize)]
        struct C {
            token: SecretRef,
        }
        let c: C = toml::from_str("token = { env = \"HUBSPOT_TOKEN\" }").unwrap();
        assert_eq!(c.token, SecretRef::env("HUBSPOT_TOKEN"));
        assert!(toml::from_str::<C>("token = { env = \"X\", value = \"y\" }").is_err());
    }

    #[test]
    fn known_values_are_removed_raw_and_encoded() {
        let text = "token abc/def+ghi=1 sent as abc%2Fdef%2Bghi%3D1 and abc%2fdef%2bghi%3d1";
        let out = redact(text, &["abc/def+ghi=1"]);
        assert_eq!(out, "token *** sent as *** and ***");
    }

    #[test]
    fn short_values_are_left_alone() {
        assert_eq!(redact("row 1 of 12", &["1"]), "row 1 of 12");
    }

    #[test]
    fn credential_parameters_are_removed_by_name() {
        let url = "https://x.test/v1/a?fields=id,name&access_token=EAAB123&limit=10&api_key=k1&key=k2&after=c";
        assert_eq!(
            redact(url, &[]),
            "https://x.test/v1/a?fields=id,name&access_token=***&limit=10&api_key=***&key=***&after=c"
        );
        let form = "grant_type=refresh_token&client_id=id&client_secret=cs&refresh_token=rt";
        assert_eq!(
            redact(form, &[]),
            "grant_type=refresh_token&client_id=id&client_secret=***&refresh_token=***"
        );
        // `grant_type=refresh_token` is not a credential: the name decides, not the value.
        assert!(redact(form, &[]).starts_with("grant_type=refresh_token&"));
    }

    #[test]
    fn json_members_and_bearer_headers_are_removed() {
        let body = r#"{"access_token": "ya29.abc", "expires_in": 3599, "error": "x"}"#;
        assert_eq!(
            redact(body, &[]),
            r#"{"access_token": "***", "expires_in": 3599, "error": "x"}"#
        );
        assert_eq!(
            redact("sent Authorization: Bearer ya29.zzz, got 401", &[]),
            "sent Authorization: Bearer ***, got 401"
        );
    }

    #[test]
    fn redactor_learns_runtime_values() {
        let r = Redactor::new();
        assert_eq!(r.redact("tok-123456 failed"), "tok-123456 failed");
        r.add(&Secret::new("tok-123456"));
        assert_eq!(r.redact("tok-123456 failed"), "*** failed");
        assert!(format!("{r:?}").starts_with("Redactor(1"));
    }

    #[test]
    fn credential_params() {
        for n in [
            "access_token",
            "key",
            "api_key",
            "appsecret_proof",
            "client_secret",
        ] {
            assert!(is_credential_param(n), "{n}");
        }
        for n in [
            "pageToken",
            "nextPageToken",
            "after",
            "fields",
            "grant_type",
        ] {
            assert!(!is_credential_param(n), "{n}");
        }
    }

    #[test]
    fn sensitive_names() {
        for n in [
            "access_token",
            "token",
            "key",
            "api_key",
            "apiKey",
            "client_secret",
            "x-api-key",
            "password",
            "developer-token",
        ] {
            assert!(is_sensitive_name(n), "{n}");
        }
        for n in [
            "fields",
            "after",
            "grant_type",
            "client_id",
            "limit",
            "level",
        ] {
            assert!(!is_sensitive_name(n), "{n}");
        }
    }
}
