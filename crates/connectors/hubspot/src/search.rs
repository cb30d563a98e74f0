//! Reading a whole object type through the CRM search API, in ranges of
//! object id read side by side.
//!
//! The list API's `after` cursor is opaque, so a list read is one request
//! after the other however many the quota would allow at once. Search can
//! filter on `hs_object_id`: two one-result probes give the lowest and
//! highest id, the span between them is cut into ranges, and each range is
//! paged by id (`hs_object_id > last id seen`, sorted ascending) rather
//! than by `after`, which also keeps every query under HubSpot's 10,000
//! results per search.

use futures::{Stream, StreamExt, TryStreamExt};
use kpi_connector::{ConnectorError, HttpRequest};
use serde_json::{Value, json};

use crate::connector::{HubSpotConnector, Page};

/// HubSpot's largest search page.
pub(crate) const SEARCH_PAGE: usize = 200;

/// Ranges per reader, at most. About a page per range keeps each range's
/// chain of requests short, so a range started late (the API's slots busy
/// with other streams) still ends with the others; more ranges than readers
/// also keeps every reader busy when ids are not spread evenly.
const RANGES_PER_READER: u64 = 16;

/// The lowest and highest object id and how many objects there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IdSpan {
    pub min: u64,
    pub max: u64,
    pub total: u64,
}

/// `[lo, hi)` ranges covering `span`: one per page of results, at most
/// `readers * 16`.
pub(crate) fn ranges(span: IdSpan, readers: usize) -> Vec<(u64, u64)> {
    let pages = span.total.div_ceil(SEARCH_PAGE as u64).max(1);
    let n = (readers.max(1) as u64 * RANGES_PER_READER).min(pages);
    let end = span.max.saturating_add(1);
    let width = (end - span.min).div_ceil(n).max(1);
    let mut out = Vec::new();
    let mut lo = span.min;
    while lo < end {
        let hi = lo.saturating_add(width).min(end);
        out.push((lo, hi));
        lo = hi;
    }
    out
}

fn object_id(object: &Value) -> Option<u64> {
    match object.get("id")? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

impl HubSpotConnector {
    fn search_url(&self, object: &str) -> String {
        format!("{}/crm/v3/objects/{object}/search", self.settings.base_url)
    }

    /// One search request: the parsed body and the request's origin.
    async fn search(&self, object: &str, body: Value) -> Result<(Value, String), ConnectorError> {
        let request = HttpRequest::post(self.search_url(object)).json(&body);
        let origin = self.origin(&request);
        let _slot = self.search_limit.acquire().await;
        Ok((self.call(&request).await?, origin))
    }

    /// The span of ids of `object`, or `None` when there are none.
    pub(crate) async fn id_span(&self, object: &str) -> Result<Option<IdSpan>, ConnectorError> {
        let probe = |direction: &'static str| async move {
            let body = json!({
                "sorts": [{"propertyName": "hs_object_id", "direction": direction}],
                "properties": ["hs_object_id"],
                "limit": 1,
            });
            let (reply, origin) = self.search(object, body).await?;
            let total = reply.get("total").and_then(Value::as_u64).unwrap_or(0);
            let first = reply
                .get("results")
                .and_then(Value::as_array)
                .and_then(|r| r.first());
            let id = match first {
                None => None,
                Some(o) => Some(object_id(o).ok_or_else(|| {
                    self.response_error(&origin, format!("an object without a numeric id: {o}"))
                })?),
            };
            Ok::<_, ConnectorError>((id, total))
        };
        // Both ends at once: one round trip, not two.
        let (low, high) = futures::try_join!(probe("ASCENDING"), probe("DESCENDING"))?;
        Ok(match (low, high) {
            ((Some(min), total), (Some(max), _)) if min <= max => Some(IdSpan { min, max, total }),
            _ => None,
        })
    }

    /// The pages of ids `[lo, hi)`, paged by id.
    fn range_pages<'a>(
        &'a self,
        object: &'a str,
        properties: &'a [String],
        (lo, hi): (u64, u64),
    ) -> impl Stream<Item = Result<Page, ConnectorError>> + 'a {
        futures::stream::try_unfold(Some(lo), move |next| async move {
            let Some(from) = next.filter(|f| *f < hi) else {
                return Ok(None);
            };
            let body = json!({
                "filterGroups": [{"filters": [
                    {"propertyName": "hs_object_id", "operator": "GTE", "value": from.to_string()},
                    {"propertyName": "hs_object_id", "operator": "LT", "value": hi.to_string()},
                ]}],
                "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                "properties": properties,
                "limit": SEARCH_PAGE,
            });
            let (mut reply, origin) = self.search(object, body).await?;
            let objects = match reply.get_mut("results").map(Value::take) {
                Some(Value::Array(objects)) => objects,
                _ => {
                    return Err(self.response_error(
                        &origin,
                        "the body has no `results` array (expected a CRM v3 search page)".into(),
                    ));
                }
            };
            let last = match objects.last() {
                None => None,
                Some(o) => Some(object_id(o).ok_or_else(|| {
                    self.response_error(&origin, format!("an object without a numeric id: {o}"))
                })?),
            };
            if let Some(last) = last
                && last < from
            {
                // Sorted ascending from `from`: anything else would loop.
                return Err(self.response_error(
                    &origin,
                    format!("search returned id {last} below the requested {from}"),
                ));
            }
            // More when HubSpot says so (its `after` is not used: the next
            // page starts after the last id).
            let more = reply.pointer("/paging/next").is_some() || objects.len() == SEARCH_PAGE;
            let next = match last {
                Some(last) if more => Some(last + 1),
                _ => None,
            };
            Ok(Some((Page { objects, origin }, next)))
        })
    }

    /// Every object of `object` with `properties`, as pages arriving from
    /// up to `http.max_concurrency` ranges at once (in no particular order).
    pub(crate) async fn search_all<'a>(
        &'a self,
        object: &'a str,
        properties: &'a [String],
    ) -> Result<impl Stream<Item = Result<Page, ConnectorError>> + 'a, ConnectorError> {
        let readers = self.client.settings().max_concurrency;
        let ranges = match self.id_span(object).await? {
            Some(span) => ranges(span, readers),
            None => Vec::new(),
        };
        Ok(futures::stream::iter(ranges)
            .map(move |r| {
                // Deals' contacts are fetched inside each range's stream, so
                // that ranges wait for them side by side, not one by one.
                Box::pin(
                    self.range_pages(object, properties, r)
                        .and_then(move |page| async move {
                            if object == crate::deals::DEALS {
                                self.attach_deal_contacts(page).await
                            } else {
                                Ok(page)
                            }
                        }),
                )
            })
            .flatten_unordered(readers))
    }

    /// `page` of deals with `associations.contacts` filled in as the list
    /// API would, from the associations batch API (search leaves them out).
    async fn attach_deal_contacts(&self, mut page: Page) -> Result<Page, ConnectorError> {
        let ids: Vec<String> = page
            .objects
            .iter()
            .filter_map(|d| match d.get("id") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            })
            .collect();
        let contacts: std::collections::HashMap<String, String> =
            self.deal_contacts(&ids).await?.into_iter().collect();
        for deal in page.objects.iter_mut() {
            let id = match deal.get("id") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => continue,
            };
            if let (Some(contact), Some(obj)) = (contacts.get(&id), deal.as_object_mut()) {
                obj.insert(
                    "associations".into(),
                    json!({"contacts": {"results": [{"id": contact}]}}),
                );
            }
        }
        Ok(page)
    }

    /// The first associated contact of each deal in `deal_ids`, from the v4
    /// associations batch API, as `(deal id, contact id)`.
    pub(crate) async fn deal_contacts(
        &self,
        deal_ids: &[String],
    ) -> Result<Vec<(String, String)>, ConnectorError> {
        if deal_ids.is_empty() {
            return Ok(Vec::new());
        }
        let inputs: Vec<Value> = deal_ids.iter().map(|id| json!({"id": id})).collect();
        let request = HttpRequest::post(format!(
            "{}/crm/v4/associations/deals/contacts/batch/read",
            self.settings.base_url
        ))
        .json(&json!({ "inputs": inputs }));
        let origin = self.origin(&request);
        let reply = self.call(&request).await?;
        let Some(results) = reply.get("results").and_then(Value::as_array) else {
            return Err(self.response_error(
                &origin,
                "the body has no `results` array (expected an associations batch)".into(),
            ));
        };
        let text = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        Ok(results
            .iter()
            .filter_map(|r| {
                let deal = r.pointer("/from/id").and_then(text)?;
                let contact = r
                    .get("to")
                    .and_then(Value::as_array)?
                    .iter()
                    .filter_map(|t| t.get("toObjectId").and_then(text))
                    .next()?;
                Some((deal, contact))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_span_without_gaps() {
        let span = IdSpan {
            min: 1_000_001,
            max: 1_019_700,
            total: 19_700,
        };
        // 99 pages of 200: 99 ranges of 199 ids.
        let r = ranges(span, 10);
        assert_eq!(r.len(), 99);
        assert_eq!(r[0], (1_000_001, 1_000_200));
        assert_eq!(r[98].1, 1_019_701);
        // Many pages: at most 16 per reader.
        assert_eq!(ranges(span, 2).len(), 32);
        assert!(r.windows(2).all(|w| w[0].1 == w[1].0));
        // Fewer pages than readers: one range per page at most.
        let small = IdSpan {
            min: 5,
            max: 900,
            total: 150,
        };
        assert_eq!(ranges(small, 10), vec![(5, 901)]);
        // One object.
        let one = IdSpan {
            min: 7,
            max: 7,
            total: 1,
        };
        assert_eq!(ranges(one, 4), vec![(7, 8)]);
    }
}
