//! `[sources.<name>]` with `type = "mailchimp"`: the connector's own
//! settings, the API's defaults for the shared ones, and the data centre
//! read from the API key.

use kpi_connector::{
    Api, Auth, AuthConfig, ConnectorError, HttpSettings, HttpSource, Prepared, SecretRef, StreamDef,
};
use serde::Deserialize;

use crate::connector::{MailchimpConnector, stream_defs};

/// What `kpi check` shows as the base URL when none is written: the real
/// host depends on the key's data centre, known only once the key is read.
pub const DISPLAY_BASE_URL: &str = "https://<dc>.api.mailchimp.com";
/// The environment variable the API key is read from by default.
pub const API_KEY_ENV: &str = "MAILCHIMP_API_KEY";
/// Reports (or campaigns) asked for per request by default.
pub const DEFAULT_PAGE_SIZE: u32 = 500;
/// The most records Mailchimp returns per request (`count`).
pub const MAX_PAGE_SIZE: u32 = 1000;
/// Days before the last synced day re-read on every sync: a campaign's
/// opens and clicks keep arriving for weeks after its send, and its report
/// (filed on the send day) changes with them.
pub const DEFAULT_LOOKBACK_DAYS: u32 = 30;

/// The settings of a `type = "mailchimp"` source besides the shared ones
/// (`base_url`, `auth`, `http`, `lookback_days`; there is no `token_url`).
///
/// ```toml
/// [sources.mailchimp]
/// type = "mailchimp"
/// page_size = 500
/// lookback_days = 30
/// # Default: https://<dc>.api.mailchimp.com, <dc> being the key's suffix
/// # (a key `...-us6` reads https://us6.api.mailchimp.com).
/// # base_url = "http://127.0.0.1:8790"
/// # The key is the basic-auth password; any user name works (the default shown):
/// [sources.mailchimp.auth]
/// type = "basic"
/// username = "kpi"
/// password = { env = "MAILCHIMP_API_KEY" }
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailchimpConfig {
    /// Records per `/3.0/reports` and `/3.0/campaigns` request (`count`),
    /// 1 to 1000 (Mailchimp's maximum). Default 500: a page of reports is a
    /// few hundred kilobytes of JSON.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
}

impl Default for MailchimpConfig {
    fn default() -> Self {
        MailchimpConfig {
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

fn default_page_size() -> u32 {
    DEFAULT_PAGE_SIZE
}

/// HTTP basic auth with the API key as password; Mailchimp ignores the
/// user name.
fn default_auth() -> AuthConfig {
    AuthConfig::Basic {
        username: "kpi".into(),
        password: SecretRef::env(API_KEY_ENV),
    }
}

/// Mailchimp allows 10 simultaneous connections per account (and answers
/// 429 past them); it has no per-second quota.
fn http_defaults() -> HttpSettings {
    HttpSettings {
        max_concurrency: 10,
        ..HttpSettings::default()
    }
}

/// The data centre an API key names: what follows its last `-` (`us6` for
/// `0123abcd...-us6`). The error names the variable, never the key.
pub fn data_centre(key: &str) -> Result<&str, ConnectorError> {
    let dc = key.trim().rsplit_once('-').map(|(_, dc)| dc).unwrap_or("");
    if dc.is_empty() || !dc.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ConnectorError::Config(format!(
            "the Mailchimp API key in {API_KEY_ENV} (or the variable auth.password names) does not \
             end in a data centre such as `-us6`: copy the whole key from Profile > Extras > API \
             keys, or set base_url = \"https://<dc>.api.mailchimp.com\""
        )));
    }
    Ok(dc)
}

impl HttpSource for MailchimpConfig {
    const TYPE: &'static str = "mailchimp";
    const API: Api = Api {
        base_url: DISPLAY_BASE_URL,
        token_url: "",
        lookback_days: DEFAULT_LOOKBACK_DAYS,
        auth: default_auth,
        http: http_defaults,
    };
    type Connector = MailchimpConnector;

    fn streams(lookback_days: u32) -> Vec<StreamDef> {
        stream_defs(lookback_days)
    }

    fn validate(&self) -> Result<(), ConnectorError> {
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(ConnectorError::Config(format!(
                "page_size: {} is outside 1..=1000 (Mailchimp returns at most 1000 records per \
                 request)",
                self.page_size
            )));
        }
        Ok(())
    }

    fn base_url_from(&self, auth: &Auth) -> Result<Option<String>, ConnectorError> {
        match auth {
            Auth::Basic { password, .. } => Ok(Some(format!(
                "https://{}.api.mailchimp.com",
                data_centre(password.expose())?
            ))),
            _ => Err(ConnectorError::Config(
                "base_url is not set, and only an API key (auth type \"basic\") names its data \
                 centre: set base_url = \"https://<dc>.api.mailchimp.com\""
                    .into(),
            )),
        }
    }

    fn build(&self, prepared: Prepared) -> Result<MailchimpConnector, ConnectorError> {
        Ok(MailchimpConnector::new(prepared, self.page_size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MailchimpSource;
    use kpi_connector::ConnectorType;

    fn parse(text: &str) -> Result<MailchimpSource, String> {
        let value: toml::Value = toml::from_str(text).map_err(|e| e.to_string())?;
        value.try_into().map_err(|e: toml::de::Error| e.to_string())
    }

    #[test]
    fn defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.own, MailchimpConfig::default());
        assert_eq!(c.lookback_days(), 30);
        assert_eq!(
            c.auth(),
            AuthConfig::Basic {
                username: "kpi".into(),
                password: SecretRef::env("MAILCHIMP_API_KEY"),
            }
        );
        assert_eq!(
            ConnectorType::endpoints(&c, "mailchimp")
                .unwrap()
                .to_string(),
            "base_url https://<dc>.api.mailchimp.com, no token_url (no OAuth2 refresh)"
        );
        let streams = <MailchimpSource as ConnectorType>::streams();
        assert_eq!(streams.len(), 2);
        for s in &streams {
            s.validate().unwrap();
        }
    }

    #[test]
    fn the_data_centre_is_the_keys_suffix() {
        assert_eq!(data_centre("0123456789abcdef-us6").unwrap(), "us6");
        assert_eq!(data_centre("a-b-us21 ").unwrap(), "us21");
        for bad in ["0123456789abcdef", "abc-", "abc-us6/x"] {
            let e = data_centre(bad).unwrap_err().to_string();
            assert!(e.contains("MAILCHIMP_API_KEY"), "{e}");
            assert!(!e.contains(bad), "{e}");
        }
    }

    #[test]
    fn bad_settings_are_named() {
        let e = parse("page_size = 5000").unwrap().validate().unwrap_err();
        assert!(e.to_string().starts_with("page_size: 5000"), "{e}");
        let e = parse("pagesize = 5").unwrap_err();
        assert!(e.contains("unknown field `pagesize`"), "{e}");
        let e = parse("token_url = \"http://x/t\"")
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("remove token_url"), "{e}");
    }
}
