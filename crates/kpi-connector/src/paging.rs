//! Paging, declared once per API and shared by the connectors.
//!
//! Cursor paging: where a page's records are, which body field holds the
//! next cursor, and which query parameter sends it back.
//! HubSpot's CRM lists (`paging.next.after`) and Meta's Graph edges
//! (`paging.cursors.after` while `paging.next` is there) are two
//! declarations of the same pager. The connector keeps its own call (its
//! error rules) and hands each body to [`CursorPager::take_page`].
//!
//! The cursor is sent back as a parameter of our own request rather than by
//! fetching a `next` URL: that URL names the API's host (a configured
//! sandbox or proxy would be bypassed) and may carry a token.
//!
//! Next-URL paging (Salesforce's `nextRecordsUrl` until `done`): the body
//! names where the next page is, as a path or a URL. [`NextUrlPager`]
//! resolves it against the source's own `base_url`, so a sandbox or a proxy
//! is never bypassed, and refuses a URL on another host rather than send
//! the source's credentials there.
//!
//! Offset paging (GA4's `offset`/`limit`, Search Console's
//! `startRow`/`rowLimit`, Mailchimp's `offset`/`count`): [`OffsetPager`]
//! says which offset to ask for next and when to stop; the connector puts
//! it in its request, in the body or the query. Offsets shift when the data
//! changes during the read (a campaign sent, a fresh day revised), so a
//! record can come on two pages: [`SeenRows`] keeps the second one out.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::Value;

use crate::HttpRequest;

/// How one API pages by cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CursorPaging {
    /// JSON pointer of the records array (`/results`, `/data`).
    pub records: &'static str,
    /// The page the records array belongs to, for the error when it is
    /// missing (`a CRM v3 object page`).
    pub page: &'static str,
    /// JSON pointer of the next cursor (`/paging/next/after`). A string or
    /// an integer; absent or empty on the last page.
    pub cursor: &'static str,
    /// A pointer whose presence (a non-empty string) says there is a next
    /// page, for APIs that keep sending a cursor on the last page (Meta's
    /// `/paging/next`); then a missing cursor is an error.
    pub has_next: Option<&'static str>,
    /// The query parameter the cursor goes back in (`after`).
    pub param: &'static str,
}

/// Pages through one list: the same request each time, plus the cursor.
#[derive(Debug, Clone)]
pub struct CursorPager {
    paging: CursorPaging,
    url: String,
    params: Vec<(String, String)>,
    cursor: Option<String>,
    done: bool,
}

impl CursorPager {
    /// A pager over `GET url?params`.
    pub fn new(paging: CursorPaging, url: String, params: Vec<(String, String)>) -> Self {
        CursorPager {
            paging,
            url,
            params,
            cursor: None,
            done: false,
        }
    }

    /// The request for the next page; `None` after the last.
    pub fn next_request(&self) -> Option<HttpRequest> {
        if self.done {
            return None;
        }
        let mut request = HttpRequest::get(&self.url);
        for (k, v) in &self.params {
            request = request.query(k, v);
        }
        if let Some(c) = &self.cursor {
            request = request.query(self.paging.param, c);
        }
        Some(request)
    }

    /// Takes the records out of a page's `body` and moves to the next
    /// cursor (or to the end). The error, in words for the user, says what
    /// the body lacks: the records array, a cursor `has_next` promised, or a
    /// cursor that repeats the one just used (which would page forever).
    pub fn take_page(&mut self, body: &mut Value) -> Result<Vec<Value>, String> {
        let records = match body.pointer_mut(self.paging.records).map(Value::take) {
            Some(Value::Array(records)) => records,
            _ => {
                return Err(format!(
                    "the body has no `{}` array (expected {})",
                    dotted(self.paging.records),
                    self.paging.page
                ));
            }
        };
        let cursor = match body.pointer(self.paging.cursor) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let more = match self.paging.has_next {
            None => cursor.is_some(),
            Some(p) => body
                .pointer(p)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty()),
        };
        if !more {
            self.done = true;
            return Ok(records);
        }
        let Some(cursor) = cursor else {
            return Err(format!(
                "{} is present but {} is missing",
                dotted(self.paging.has_next.unwrap_or_default()),
                dotted(self.paging.cursor)
            ));
        };
        if self.cursor.as_deref() == Some(cursor.as_str()) {
            return Err(format!(
                "{} repeats the cursor just used ({cursor})",
                dotted(self.paging.cursor)
            ));
        }
        self.cursor = Some(cursor);
        Ok(records)
    }
}

/// How one API pages by a next URL its bodies name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextUrlPaging {
    /// JSON pointer of the records array (`/records`).
    pub records: &'static str,
    /// The page the records array belongs to, for the error when it is
    /// missing (`a SOQL query result`).
    pub page: &'static str,
    /// JSON pointer of the next page's path or URL (`/nextRecordsUrl`);
    /// absent, null or empty on the last page.
    pub next: &'static str,
    /// A pointer to a boolean that says the last page has come (`/done`),
    /// for APIs that send one: `true` ends the paging whatever `next`
    /// says, `false` without a `next` is an error (records would be lost).
    pub done: Option<&'static str>,
}

/// Pages through one listing: the first request as the connector built it,
/// then a `GET` of each URL the previous page names.
#[derive(Debug, Clone)]
pub struct NextUrlPager {
    paging: NextUrlPaging,
    /// The source's base URL, without a trailing `/`.
    base: String,
    first: Option<HttpRequest>,
    /// The next page's URL, resolved.
    next: Option<String>,
    /// The previous page's `next` as the body wrote it.
    previous: Option<String>,
    done: bool,
}

impl NextUrlPager {
    /// A pager that sends `first`, then follows the next URLs, resolved
    /// against `base_url` (the source's, e.g. the Salesforce instance).
    pub fn new(paging: NextUrlPaging, base_url: &str, first: HttpRequest) -> Self {
        NextUrlPager {
            paging,
            base: base_url.trim_end_matches('/').to_string(),
            first: Some(first),
            next: None,
            previous: None,
            done: false,
        }
    }

    /// The request for the next page; `None` after the last.
    pub fn next_request(&self) -> Option<HttpRequest> {
        if self.done {
            return None;
        }
        match (&self.next, &self.first) {
            (Some(url), _) => Some(HttpRequest::get(url)),
            (None, Some(first)) => Some(first.clone()),
            (None, None) => None,
        }
    }

    /// Takes the records out of a page's `body` and moves to the next page
    /// (or to the end). The error, in words for the user, says what the body
    /// lacks or names wrongly: the records array, a next page `done: false`
    /// promised, a next URL that repeats the one just read (which would page
    /// forever) or that is on another host than `base_url`.
    pub fn take_page(&mut self, body: &mut Value) -> Result<Vec<Value>, String> {
        let records = match body.pointer_mut(self.paging.records).map(Value::take) {
            Some(Value::Array(records)) => records,
            _ => {
                return Err(format!(
                    "the body has no `{}` array (expected {})",
                    dotted(self.paging.records),
                    self.paging.page
                ));
            }
        };
        self.first = None;
        let next = body
            .pointer(self.paging.next)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let done = self
            .paging
            .done
            .and_then(|p| body.pointer(p))
            .and_then(Value::as_bool);
        let next = match (done, next) {
            (Some(true), _) | (None, None) => {
                self.done = true;
                return Ok(records);
            }
            (Some(false), None) => {
                return Err(format!(
                    "{} is false but {} is missing",
                    dotted(self.paging.done.unwrap_or_default()),
                    dotted(self.paging.next)
                ));
            }
            (_, Some(next)) => next,
        };
        if self.previous.as_deref() == Some(next.as_str()) {
            return Err(format!(
                "{} repeats the page just read ({next})",
                dotted(self.paging.next)
            ));
        }
        self.next = Some(self.resolve(&next)?);
        self.previous = Some(next);
        Ok(records)
    }

    /// `next` as a URL on the source's own host: a path is appended to the
    /// base URL; a full URL must start with it.
    fn resolve(&self, next: &str) -> Result<String, String> {
        if next.starts_with('/') {
            return Ok(format!("{}{next}", self.base));
        }
        let on_base = next
            .strip_prefix(self.base.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']));
        if on_base {
            Ok(next.to_string())
        } else {
            Err(format!(
                "{} names {}, which is not under {}: not followed (it would receive the source's credentials)",
                dotted(self.paging.next),
                crate::auth::display_url(next),
                crate::auth::display_url(&self.base)
            ))
        }
    }
}

/// Pages by offset and page size. Paging ends at the first page shorter
/// than the page size (an empty one included): a total the API reports
/// (GA4's `rowCount`) decides nothing, since stopping on a low one would
/// drop rows without a trace, while ignoring it costs one empty request
/// when the last page happens to be full.
#[derive(Debug, Clone)]
pub struct OffsetPager {
    /// The API's name for the offset, for messages (`offset`, `startRow`).
    param: &'static str,
    limit: u64,
    offset: u64,
    /// The first record of the previous full page: a server that ignores
    /// the offset would otherwise be read forever.
    previous_first: Option<String>,
    done: bool,
}

impl OffsetPager {
    /// Pages of `limit` records, the offset being called `param`.
    pub fn new(param: &'static str, limit: u64) -> Self {
        OffsetPager {
            param,
            limit: limit.max(1),
            offset: 0,
            previous_first: None,
            done: false,
        }
    }

    /// The offset of the next page to ask for; `None` after the last.
    pub fn next_offset(&self) -> Option<u64> {
        (!self.done).then_some(self.offset)
    }

    /// Records that the page at the current offset held `records` records,
    /// the first of which reads `first` (any text that identifies it). An
    /// error when a full page repeats the previous one: the API ignored the
    /// offset.
    pub fn page_read(&mut self, records: usize, first: Option<String>) -> Result<(), String> {
        if (records as u64) < self.limit {
            self.done = true;
            return Ok(());
        }
        if first.is_some() && self.previous_first == first {
            return Err(format!(
                "the page at {} {} repeats the previous one; the API ignored `{}`",
                self.param, self.offset, self.param
            ));
        }
        self.previous_first = first;
        self.offset += records as u64;
        Ok(())
    }
}

/// `/paging/next/after` as the API's documentation writes it.
fn dotted(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HUBSPOT: CursorPaging = CursorPaging {
        records: "/results",
        page: "a CRM v3 object page",
        cursor: "/paging/next/after",
        has_next: None,
        param: "after",
    };
    const META: CursorPaging = CursorPaging {
        records: "/data",
        page: "a Graph API edge page",
        cursor: "/paging/cursors/after",
        has_next: Some("/paging/next"),
        param: "after",
    };

    fn query_of(p: &CursorPager) -> String {
        p.next_request()
            .expect("a request")
            .url()
            .expect("a valid URL")
            .to_string()
    }

    #[test]
    fn follows_the_cursor_until_the_last_page() {
        let mut p = CursorPager::new(
            HUBSPOT,
            "http://x/crm".into(),
            vec![("limit".into(), "2".into())],
        );
        assert!(!query_of(&p).contains("after"));
        let mut body = json!({"results": [1, 2], "paging": {"next": {"after": "2"}}});
        assert_eq!(p.take_page(&mut body).unwrap(), vec![json!(1), json!(2)]);
        assert_eq!(query_of(&p), "http://x/crm?limit=2&after=2");
        // An integer cursor means the same.
        let mut body = json!({"results": [3], "paging": {"next": {"after": 4}}});
        p.take_page(&mut body).unwrap();
        assert_eq!(query_of(&p), "http://x/crm?limit=2&after=4");
        let mut body = json!({"results": []});
        assert!(p.take_page(&mut body).unwrap().is_empty());
        assert!(p.next_request().is_none());
    }

    const SOQL: NextUrlPaging = NextUrlPaging {
        records: "/records",
        page: "a SOQL query result",
        next: "/nextRecordsUrl",
        done: Some("/done"),
    };

    fn url_of(p: &NextUrlPager) -> String {
        p.next_request()
            .expect("a request")
            .url()
            .expect("a valid URL")
            .to_string()
    }

    #[test]
    fn follows_next_urls_on_the_base_until_done() {
        let first = HttpRequest::get("http://x:9/sf/services/data/v62.0/query")
            .query("q", "SELECT Id FROM Lead");
        let mut p = NextUrlPager::new(SOQL, "http://x:9/sf/", first);
        assert_eq!(
            url_of(&p),
            "http://x:9/sf/services/data/v62.0/query?q=SELECT+Id+FROM+Lead"
        );
        let mut body = json!({"totalSize": 3, "done": false,
            "nextRecordsUrl": "/services/data/v62.0/query/01gD0000002HU6KIAW-2",
            "records": [1, 2]});
        assert_eq!(p.take_page(&mut body).unwrap(), vec![json!(1), json!(2)]);
        // A path is taken from the base URL, prefix included.
        assert_eq!(
            url_of(&p),
            "http://x:9/sf/services/data/v62.0/query/01gD0000002HU6KIAW-2"
        );
        let mut body = json!({"totalSize": 3, "done": true, "records": [3]});
        assert_eq!(p.take_page(&mut body).unwrap(), vec![json!(3)]);
        assert!(p.next_request().is_none());
        // `done: true` ends the paging even with a next URL left in the body.
        let mut p = NextUrlPager::new(SOQL, "http://x:9", HttpRequest::get("http://x:9/q"));
        p.take_page(&mut json!({"done": true, "nextRecordsUrl": "/q/2", "records": []}))
            .unwrap();
        assert!(p.next_request().is_none());
        // Without a `done` member, a page without a next URL is the last.
        let open = NextUrlPaging { done: None, ..SOQL };
        let mut p = NextUrlPager::new(open, "http://x:9", HttpRequest::get("http://x:9/q"));
        p.take_page(&mut json!({"nextRecordsUrl": "http://x:9/q?page=2", "records": [1]}))
            .unwrap();
        assert_eq!(url_of(&p), "http://x:9/q?page=2");
        p.take_page(&mut json!({"nextRecordsUrl": null, "records": [2]}))
            .unwrap();
        assert!(p.next_request().is_none());
    }

    #[test]
    fn a_next_url_that_is_missing_repeated_or_elsewhere_is_an_error() {
        let start = || NextUrlPager::new(SOQL, "http://x:9", HttpRequest::get("http://x:9/q"));
        let e = start()
            .take_page(&mut json!([{"errorCode": "X"}]))
            .unwrap_err();
        assert_eq!(
            e,
            "the body has no `records` array (expected a SOQL query result)"
        );
        let e = start()
            .take_page(&mut json!({"done": false, "records": [1]}))
            .unwrap_err();
        assert_eq!(e, "done is false but nextRecordsUrl is missing");
        let mut p = start();
        let page = json!({"done": false, "nextRecordsUrl": "/q/2", "records": [1]});
        p.take_page(&mut page.clone()).unwrap();
        let e = p.take_page(&mut page.clone()).unwrap_err();
        assert_eq!(e, "nextRecordsUrl repeats the page just read (/q/2)");
        let e = start()
            .take_page(&mut json!({"done": false, "nextRecordsUrl": "https://evil.example/q/2?access_token=abc", "records": []}))
            .unwrap_err();
        assert!(
            e.starts_with("nextRecordsUrl names https://evil.example/q/2"),
            "{e}"
        );
        assert!(!e.contains("abc"), "{e}");
        // A host that merely starts like the base is another host.
        let e = start()
            .take_page(
                &mut json!({"done": false, "nextRecordsUrl": "http://x:90/q/2", "records": []}),
            )
            .unwrap_err();
        assert!(e.contains("not under http://x:9"), "{e}");
    }

    #[test]
    fn offsets_advance_by_full_pages_and_stop_on_a_short_one() {
        let mut p = OffsetPager::new("startRow", 2);
        assert_eq!(p.next_offset(), Some(0));
        p.page_read(2, Some("a".into())).unwrap();
        assert_eq!(p.next_offset(), Some(2));
        p.page_read(2, Some("c".into())).unwrap();
        assert_eq!(p.next_offset(), Some(4));
        p.page_read(0, None).unwrap();
        assert_eq!(p.next_offset(), None);
        // A server that ignores the offset sends the same full page again.
        let mut p = OffsetPager::new("offset", 2);
        p.page_read(2, Some("a".into())).unwrap();
        let e = p.page_read(2, Some("a".into())).unwrap_err();
        assert_eq!(
            e,
            "the page at offset 2 repeats the previous one; the API ignored `offset`"
        );
    }

    #[test]
    fn a_missing_array_a_missing_or_repeated_cursor_is_an_error() {
        let mut p = CursorPager::new(META, "http://x/act_1/campaigns".into(), vec![]);
        let e = p.take_page(&mut json!({"error": "x"})).unwrap_err();
        assert_eq!(
            e,
            "the body has no `data` array (expected a Graph API edge page)"
        );
        let e = p
            .take_page(&mut json!({"data": [], "paging": {"next": "https://graph/..."}}))
            .unwrap_err();
        assert_eq!(
            e,
            "paging.next is present but paging.cursors.after is missing"
        );
        let page = json!({"data": [1], "paging": {"next": "n", "cursors": {"after": "c1"}}});
        p.take_page(&mut page.clone()).unwrap();
        let e = p.take_page(&mut page.clone()).unwrap_err();
        assert_eq!(e, "paging.cursors.after repeats the cursor just used (c1)");
        // Meta keeps a cursor on the last page; without `paging.next` it ends.
        let mut p = CursorPager::new(META, "u".into(), vec![]);
        p.take_page(&mut json!({"data": [1], "paging": {"cursors": {"after": "c9"}}}))
            .unwrap();
        assert!(p.next_request().is_none());
    }
}

/// The records of one offset-paged read already taken, by key: a record
/// that moves from one page to the next while the data changes under the
/// read would otherwise be written twice. Eight bytes a record (a hash of
/// its key), where the keys themselves could take a hundred.
#[derive(Debug, Default)]
pub struct SeenRows {
    keys: HashSet<u64>,
    repeated: u64,
}

impl SeenRows {
    /// Whether the record with `key` comes for the first time in this read
    /// (and so is to be kept); a repeat is counted.
    pub fn first_time(&mut self, key: impl Hash) -> bool {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        let new = self.keys.insert(h.finish());
        self.repeated += u64::from(!new);
        new
    }

    /// How many records came again and were left out.
    pub fn repeated(&self) -> u64 {
        self.repeated
    }
}

#[cfg(test)]
mod seen_tests {
    use super::*;

    #[test]
    fn a_record_on_two_pages_is_taken_once() {
        let mut seen = SeenRows::default();
        assert!(seen.first_time(["2024-06-01", "shoes", "MOBILE"]));
        assert!(seen.first_time(["2024-06-01", "shoes", "DESKTOP"]));
        assert!(!seen.first_time(["2024-06-01", "shoes", "MOBILE"]));
        assert!(seen.first_time("c1"));
        assert!(!seen.first_time("c1"));
        assert_eq!(seen.repeated(), 2);
    }
}
