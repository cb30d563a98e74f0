//! The running connector: paged `searchAnalytics/query` requests into
//! batches, the sites probe of `kpi check`, and Google's refusals turned
//! into messages that say what to do.

use async_trait::async_trait;
use kpi_connector::{
    BatchSink, CheckReport, Connector, ConnectorError, Context, HttpClient, HttpError, HttpRequest,
    OffsetPager, Prepared, ReadStats, StreamDef, SyncWindow,
};
use serde::Deserialize;

use crate::SEARCH_ANALYTICS;
use crate::analytics::{QueryResponse, page_to_batch, query_url, request_body, site_url};
use crate::config::DataState;

/// The Search Console source, built by
/// [`SearchConsoleConfig::connector`](crate::SearchConsoleConfig::connector).
#[derive(Debug)]
pub struct SearchConsoleConnector {
    client: HttpClient,
    base_url: String,
    source: String,
    site_urls: Vec<String>,
    page_size: u32,
    data_state: DataState,
    lookback_days: u32,
    /// The refresh token's and client id's variables, as configured, for
    /// the hints of a refused credential.
    credential_vars: String,
}

/// `sites.get`: the site and the account's permission on it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Site {
    #[serde(default)]
    permission_level: Option<String>,
}

/// The one stream, re-reading `lookback_days` on each sync.
pub(crate) fn stream_defs(lookback_days: u32) -> Vec<StreamDef> {
    vec![crate::analytics::stream_def(lookback_days)]
}

impl SearchConsoleConnector {
    pub(crate) fn new(
        p: Prepared,
        site_urls: Vec<String>,
        page_size: u32,
        data_state: DataState,
    ) -> Self {
        let credential_vars = match p.auth_config.secret_vars()[..] {
            [refresh, client_id, ..] => format!("{refresh} and {client_id}"),
            [one] => one.to_string(),
            [] => "no variable: auth is none".to_string(),
        };
        SearchConsoleConnector {
            credential_vars,
            client: p.client,
            base_url: p.base_url,
            source: p.source,
            site_urls,
            page_size,
            data_state,
            lookback_days: p.lookback_days,
        }
    }

    /// The sites read, as written in `site_urls` (trimmed).
    pub fn site_urls(&self) -> &[String] {
        &self.site_urls
    }

    /// The HTTP client (counters, redactor).
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// Where requests go, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The API's refusal with what to do about it appended, for the ones a
    /// person can fix. Retrying is the shared client's: a 429 or 5xx that
    /// reaches here was retried already, and a 401 came back after a fresh
    /// token.
    fn explain(&self, error: HttpError, site: &str) -> ConnectorError {
        let source = &self.source;
        let variables = &self.credential_vars;
        let refresh = matches!(error, HttpError::TokenRefresh { .. });
        // Google answers 403 for an API the OAuth client's project has not
        // enabled too: that is not the site's fault.
        let api_disabled = matches!(&error, HttpError::Status { message, .. }
            if message.contains("has not been used in project") || message.contains("is disabled"));
        let hint = match (refresh, error.status()) {
            (true, _) => format!(
                "Google refused the OAuth2 credentials of source {source}: the refresh token has \
                 expired or was revoked, or it was issued to another OAuth client ({variables}); \
                 authorize again with the webmasters.readonly scope and set the new refresh token"
            ),
            (_, Some(401)) => format!(
                "Google refused the access token of source {source} even freshly refreshed: the \
                 refresh token ({variables}) must carry the scope \
                 https://www.googleapis.com/auth/webmasters.readonly"
            ),
            (_, Some(403)) if api_disabled => format!(
                "source {source}: enable the Google Search Console API in the Google Cloud \
                 project of the OAuth client, then sync again"
            ),
            (_, Some(403)) => format!(
                "source {source}: site {site} is not verified for the Google account that granted \
                 the refresh token, or that account has no permission on it; add the account in \
                 Search Console > Settings > Users and permissions, or correct site_urls (a domain \
                 property is written sc-domain:example.com, a URL-prefix property as its exact URL \
                 with the trailing /)"
            ),
            (_, Some(400)) => format!("source {source}, site {site}"),
            (_, Some(404)) => format!(
                "source {source}: no Search Console API at base_url {}",
                self.base_url
            ),
            (_, Some(429)) => format!(
                "source {source}: Google allows 1,200 queries a minute per site and per user, \
                 and a load quota per site; sync again later, or lower http.requests_per_second"
            ),
            _ => return ConnectorError::Http(error),
        };
        ConnectorError::Http(error.with_hint(&hint))
    }

    fn bad_response(&self, origin: &str, message: impl AsRef<str>) -> ConnectorError {
        ConnectorError::Response {
            origin: origin.to_string(),
            message: self.client.redact(message.as_ref()),
        }
    }

    /// Every page of `window` for one site, `page_size` rows at a time
    /// (paging: see [`OffsetPager`]; it ends at a page shorter than
    /// `rowLimit`, an empty or absent `rows` included).
    async fn read_site(
        &self,
        site: &str,
        window: SyncWindow,
        sink: &mut dyn BatchSink,
        stats: &mut ReadStats,
    ) -> Result<(), ConnectorError> {
        let url = query_url(&self.base_url, site);
        let mut pager = OffsetPager::new("startRow", u64::from(self.page_size));
        let mut seen = kpi_connector::SeenRows::default();
        while let Some(start_row) = pager.next_offset() {
            let body = request_body(window, self.data_state, self.page_size, start_row);
            let response = self
                .client
                .send(&HttpRequest::post(&url).json(&body))
                .await
                .map_err(|e| self.explain(e, site))?;
            let page: QueryResponse = response.json()?;
            stats.pages += 1;
            let rows = page.rows.unwrap_or_default();
            let batch = page_to_batch(site, &rows, window, &mut seen).map_err(|m| {
                self.bad_response(
                    &response.origin,
                    format!("page at startRow {start_row}: {m}"),
                )
            })?;
            if batch.num_rows() > 0 {
                stats.rows += batch.num_rows() as u64;
                sink.write(batch).await?;
            }
            let first = rows.first().map(|r| r.keys.join("\u{1f}"));
            pager
                .page_read(rows.len(), first)
                .map_err(|m| self.bad_response(&response.origin, m))?;
        }
        if seen.repeated() > 0 {
            tracing::warn!(
                target: "kpi_connector_search_console",
                source = self.source.as_str(),
                site,
                repeated = seen.repeated(),
                "rows moved between pages while they were read (the data changed under the \
                 read); each was kept once, and the next sync's lookback reads the days again"
            );
        }
        Ok(())
    }

    /// `site sc-domain:example.com (siteOwner)`; an unverified account is
    /// an error, since it cannot read the site's data.
    async fn check_site(&self, site: &str) -> Result<String, ConnectorError> {
        let response = self
            .client
            .send(&HttpRequest::get(site_url(&self.base_url, site)))
            .await
            .map_err(|e| self.explain(e, site))?;
        let found: Site = response.json()?;
        let level = found.permission_level.unwrap_or_else(|| "?".into());
        // `siteUnverifiedUser` in v3's JSON, `SITE_UNVERIFIED_USER` in v1's.
        if level
            .replace('_', "")
            .eq_ignore_ascii_case("siteunverifieduser")
        {
            return Err(self.bad_response(
                &response.origin,
                format!(
                    "the Google account of source {} is an unverified user of site {site} and \
                     cannot read its data: verify the site, or have an owner add the account in \
                     Search Console > Settings > Users and permissions",
                    self.source
                ),
            ));
        }
        Ok(format!("site {site} ({level})"))
    }
}

#[async_trait]
impl Connector for SearchConsoleConnector {
    fn streams(&self) -> Vec<StreamDef> {
        stream_defs(self.lookback_days)
    }

    fn parallel_reads(&self) -> usize {
        self.client.settings().max_concurrency
    }

    /// `GET /webmasters/v3/sites/{site}` for every site.
    async fn check(&self, _ctx: &Context) -> Result<CheckReport, ConnectorError> {
        let mut accounts = Vec::with_capacity(self.site_urls.len());
        for site in &self.site_urls {
            accounts.push(self.check_site(site).await?);
        }
        Ok(CheckReport::of(accounts, "sites"))
    }

    async fn read(
        &self,
        stream: &StreamDef,
        window: SyncWindow,
        sink: &mut dyn BatchSink,
    ) -> Result<ReadStats, ConnectorError> {
        if stream.name != SEARCH_ANALYTICS {
            return Err(ConnectorError::UnknownStream(stream.name.clone()));
        }
        let before = self.client.stats();
        let mut stats = ReadStats::default();
        for site in &self.site_urls {
            self.read_site(site, window, sink, &mut stats).await?;
        }
        stats.add_http(&self.client.stats().since(&before));
        Ok(stats)
    }
}
