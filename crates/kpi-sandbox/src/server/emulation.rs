//! One emulated API behind one trait: what `mod.rs` needs from it to route
//! a request, answer it, fault it in the API's own error format, and write
//! the `[sources.*]` section that syncs from it. Every API the sandbox
//! serves, the OAuth2 token endpoints among them, is one.
//!
//! An API added to the sandbox is a file implementing [`Emulation`] and one
//! line in [`EMULATIONS`]; the router, the counters, latency, the
//! concurrency limit and the faults are the server's, shared by all.

use hyper::Method;

use super::Shared;
use super::data::Store;
use super::http::{ApiRequest, Reply};

/// An emulated API.
pub(crate) trait Emulation: Send + Sync {
    /// The API's name as people say it (`LinkedIn Ads`), for what the
    /// sandbox and the demo print.
    fn name(&self) -> &'static str;

    /// The pattern of a request this API serves (counted under it in
    /// `/_sandbox/requests`, e.g. `GET /rest/adAnalytics`), or `None`.
    /// `segments` is the path split at `/`, without empty ends.
    fn route(&self, method: &Method, segments: &[&str]) -> Option<&'static str>;

    /// Answers a request [`Emulation::route`] accepted as `pattern`.
    fn respond(&self, sb: &Shared, pattern: &'static str, req: &ApiRequest) -> Reply;

    /// The API's answer to `req` when it is over its rate limit (the
    /// server adds `Retry-After`).
    fn rate_limited(&self, req: &ApiRequest, retry_after_secs: u32) -> Reply;

    /// The API's answer to an internal failure (5xx).
    fn internal_error(&self, req: &ApiRequest) -> Reply;

    /// The API's answer to an expired or revoked access token or key.
    fn token_expired(&self, req: &ApiRequest) -> Reply;

    /// The `[sources.<type>]` section of a `kpi.toml` that syncs this API
    /// from the sandbox at `base`, with the accounts of `store` and the
    /// secrets named as [`super::Credentials::env`] names them; empty for
    /// what no source syncs from (the OAuth2 token endpoints).
    fn sources_toml(&self, base: &str, store: &Store) -> String;

    /// Whether it is an API a source reads (listed by [`apis_served`]),
    /// rather than the token endpoints every OAuth2 source shares.
    fn is_api(&self) -> bool {
        true
    }
}

/// Every API the sandbox emulates, in the order `kpi sandbox serve` lists
/// them; a request goes to the first that routes it.
pub(crate) static EMULATIONS: &[&dyn Emulation] = &[
    &super::oauth::TokenEndpoints,
    &super::google_ads::GoogleAds,
    &super::meta_ads::MetaAds,
    &super::ga4::Ga4,
    &super::hubspot::HubSpot,
    &super::salesforce::Salesforce,
    &super::linkedin_ads::LinkedInAds,
    &super::microsoft_ads::MicrosoftAds,
    &super::search_console::SearchConsole,
    &super::mailchimp::Mailchimp,
];

/// The APIs the sandbox serves, as a sentence lists them: `Google Ads,
/// Meta, ... and Mailchimp`.
pub fn apis_served() -> String {
    let mut names: Vec<&str> = EMULATIONS
        .iter()
        .filter(|e| e.is_api())
        .map(|e| e.name())
        .collect();
    let last = names.pop().unwrap_or_default();
    format!("{} and {last}", names.join(", "))
}

/// A request path split at `/`, without empty ends (what
/// [`Emulation::route`] gets).
pub(crate) fn segments(path: &str) -> Vec<&str> {
    path.trim_matches('/').split('/').collect()
}

/// Whether `s` is all ASCII digits (an id).
pub(crate) fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}
