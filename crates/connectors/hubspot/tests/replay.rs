//! The HubSpot connector against a loopback server: real-format bodies
//! saved from a public repository (see `fixtures/SOURCE.md`), paging,
//! associations, the request shape, OAuth2, and HubSpot's errors. The
//! fixtures are list API pages, so these read with `read_with = "list"`;
//! the search path is tested against the sandbox (kpi-sandbox's tests).

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampMillisecondType};
use chrono::NaiveDate;
use kpi_connector::testing::{RecordedRequest, TestResponse, TestServer};
use kpi_connector::{CollectSink, Connector, ConnectorError, Context, StreamDef, SyncWindow};
use kpi_connector_hubspot::{HubSpotConnector, HubSpotSource, contacts_schema, deals_schema};
use serde_json::{Value, json};

const TOKEN: &str = "pat-eu1-5c1e0a7b-test-token";
const CONTACTS_FIXTURE: &str = include_str!("fixtures/contacts.json");
const DEALS_FIXTURE: &str = include_str!("fixtures/deals.json");

fn connector(server: &TestServer, extra: &str) -> HubSpotConnector {
    connector_with_auth(
        server,
        "auth = { type = \"bearer\", token = { env = \"HUBSPOT_TOKEN\" } }",
        extra,
    )
}

fn connector_with_auth(server: &TestServer, auth: &str, extra: &str) -> HubSpotConnector {
    let text = format!(
        "{auth}\nbase_url = \"{}\"\nread_with = \"list\"\n{extra}\n\
         [http]\nbackoff_base_secs = 0.01\nbackoff_max_secs = 0.05\ntimeout_secs = 10\nrequests_per_second = 0\n",
        server.url("")
    );
    let config: HubSpotSource = toml::from_str(&text).unwrap();
    config
        .connector_with(&|name| match name {
            "HUBSPOT_TOKEN" => Some(TOKEN.to_string()),
            "HUBSPOT_CLIENT_ID" => Some("client-id-123".to_string()),
            "HUBSPOT_CLIENT_SECRET" => Some("client-secret-456".to_string()),
            "HUBSPOT_REFRESH_TOKEN" => Some("refresh-token-789".to_string()),
            _ => None,
        })
        .unwrap()
}

fn stream(c: &HubSpotConnector, name: &str) -> StreamDef {
    c.streams().into_iter().find(|s| s.name == name).unwrap()
}

/// Snapshot streams ignore the window; any will do.
fn any_window() -> SyncWindow {
    let d: NaiveDate = "2024-06-01".parse().unwrap();
    SyncWindow { start: d, end: d }
}

fn ctx() -> Context {
    Context {
        source: "hubspot".into(),
        today: "2024-06-02".parse().unwrap(),
    }
}

fn param(r: &RecordedRequest, name: &str) -> Option<String> {
    let (_, q) = r.target.split_once('?')?;
    q.split('&').find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        (decode(k) == name).then(|| decode(v))
    })
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn all(sink: &CollectSink) -> RecordBatch {
    concat_batches(&sink.batches[0].schema(), &sink.batches).unwrap()
}

fn strings(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let a = b.column_by_name(name).unwrap().as_string::<i32>();
    (0..a.len())
        .map(|i| (!a.is_null(i)).then(|| a.value(i).to_string()))
        .collect()
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

fn millis(b: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let a = b
        .column_by_name(name)
        .unwrap()
        .as_primitive::<TimestampMillisecondType>();
    (0..a.len())
        .map(|i| (!a.is_null(i)).then(|| a.value(i)))
        .collect()
}

fn floats(b: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let a = b
        .column_by_name(name)
        .unwrap()
        .as_primitive::<Float64Type>();
    (0..a.len())
        .map(|i| (!a.is_null(i)).then(|| a.value(i)))
        .collect()
}

fn bools(b: &RecordBatch, name: &str) -> Vec<bool> {
    let a = b.column_by_name(name).unwrap().as_boolean();
    (0..a.len()).map(|i| a.value(i)).collect()
}

fn fixture(body: &str) -> TestResponse {
    TestResponse::new(200)
        .header("content-type", "application/json")
        .body(body.to_string())
}

fn account_details() -> TestResponse {
    TestResponse::json(
        200,
        &json!({"portalId": 8727216, "accountType": "STANDARD", "timeZone": "US/Eastern",
                "companyCurrency": "USD", "additionalCurrencies": [], "utcOffset": "-05:00",
                "utcOffsetMilliseconds": -18000000, "uiDomain": "app.hubspot.com",
                "dataHostingLocation": "na1"}),
    )
}

/// The column names and types staging reads (`queries/staging/hubspot__*.sql`
/// and the sandbox's `streams.rs`).
#[test]
fn schemas_match_the_raw_stream_layout() {
    let cols = |schema: arrow::datatypes::SchemaRef| -> Vec<(String, DataType, bool)> {
        schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
            .collect()
    };
    let ts = |n: &str| {
        (
            n.to_string(),
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        )
    };
    let u = |n: &str, null: bool| (n.to_string(), DataType::Utf8, null);
    assert_eq!(
        cols(contacts_schema(&[])),
        vec![
            u("id", false),
            ts("createdate"),
            ts("lastmodifieddate"),
            u("lifecyclestage", true),
            ts("hs_lifecyclestage_lead_date"),
            ts("hs_lifecyclestage_marketingqualifiedlead_date"),
            ts("hs_lifecyclestage_salesqualifiedlead_date"),
            ts("hs_lifecyclestage_opportunity_date"),
            ts("hs_lifecyclestage_customer_date"),
            ts("churn_date"),
            u("hs_analytics_source", true),
            u("hs_analytics_source_data_1", true),
            u("hs_analytics_source_data_2", true),
        ]
    );
    assert_eq!(
        cols(deals_schema(&[])),
        vec![
            u("id", false),
            u("dealname", false),
            ("amount".to_string(), DataType::Float64, true),
            u("deal_currency_code", false),
            ts("createdate"),
            ts("closedate"),
            u("dealstage", false),
            u("pipeline", false),
            ("hs_is_closed".to_string(), DataType::Boolean, false),
            ("hs_is_closed_won".to_string(), DataType::Boolean, false),
            u("associated_contact_id", true),
        ]
    );
}

#[tokio::test]
async fn real_contacts_page_lands_with_its_timestamps() {
    let server = TestServer::start(|_| async { fixture(CONTACTS_FIXTURE) }).await;
    let c = connector(&server, "");
    let mut sink = CollectSink::default();
    let stats = c
        .read(&stream(&c, "contacts"), any_window(), &mut sink)
        .await
        .unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 1, "no paging.next: one page");
    let r = &requests[0];
    assert_eq!(
        (r.method.as_str(), r.path()),
        ("GET", "/crm/v3/objects/contacts")
    );
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(param(r, "limit").as_deref(), Some("100"));
    assert_eq!(
        param(r, "properties").as_deref(),
        Some(
            "createdate,lastmodifieddate,lifecyclestage,hs_lifecyclestage_lead_date,\
             hs_lifecyclestage_marketingqualifiedlead_date,hs_lifecyclestage_salesqualifiedlead_date,\
             hs_lifecyclestage_opportunity_date,hs_lifecyclestage_customer_date,hs_analytics_source,\
             hs_analytics_source_data_1,hs_analytics_source_data_2,churn_date"
        )
    );
    assert_eq!(param(r, "after"), None);
    assert_eq!(param(r, "associations"), None);

    assert_eq!((stats.rows, stats.pages, stats.requests), (1, 1, 1));
    let b = all(&sink);
    assert_eq!(b.schema(), contacts_schema(&[]));
    assert_eq!(strings(&b, "id"), [s("312929580")]);
    // "2021-02-23T20:08:49.603000+00:00" = 1614110929603 ms.
    assert_eq!(millis(&b, "createdate"), [Some(1_614_110_929_603)]);
    // No lastmodifieddate property: the object's updatedAt,
    // 2021-02-23T20:08:53.371Z = 1614110933371 ms.
    assert_eq!(millis(&b, "lastmodifieddate"), [Some(1_614_110_933_371)]);
    // The fixture holds no lifecycle dates or source: nulls, not zeros.
    for col in [
        "hs_lifecyclestage_lead_date",
        "hs_lifecyclestage_customer_date",
        "churn_date",
    ] {
        assert_eq!(millis(&b, col), [None], "{col}");
    }
    assert_eq!(strings(&b, "lifecyclestage"), [None]);
    assert_eq!(strings(&b, "hs_analytics_source"), [None]);
}

#[tokio::test]
async fn real_deals_page_lands_with_the_portal_currency() {
    let server = TestServer::start(|r: RecordedRequest| async move {
        match r.path() {
            "/account-info/v3/details" => account_details(),
            _ => fixture(DEALS_FIXTURE),
        }
    })
    .await;
    let c = connector(&server, "");
    let mut sink = CollectSink::default();
    c.read(&stream(&c, "deals"), any_window(), &mut sink)
        .await
        .unwrap();
    let requests = server.requests();
    let r = &requests[0];
    assert_eq!(r.path(), "/crm/v3/objects/deals");
    assert_eq!(param(r, "associations").as_deref(), Some("contacts"));
    assert_eq!(
        param(r, "properties").as_deref(),
        Some(
            "dealname,amount,deal_currency_code,createdate,closedate,dealstage,pipeline,hs_is_closed,hs_is_closed_won"
        )
    );
    // The deal has no deal_currency_code: the portal's currency, asked once.
    assert_eq!(requests[1].path(), "/account-info/v3/details");
    assert_eq!(requests.len(), 2);

    let b = all(&sink);
    assert_eq!(b.schema(), deals_schema(&[]));
    assert_eq!(strings(&b, "id"), [s("312929580")]);
    assert_eq!(millis(&b, "createdate"), [Some(1_614_110_929_603)]);
    // The fixture's `closed_date` is not HubSpot's `closedate`.
    assert_eq!(millis(&b, "closedate"), [None]);
    assert_eq!(floats(&b, "amount"), [None]);
    assert_eq!(strings(&b, "deal_currency_code"), [s("USD")]);
    assert_eq!(strings(&b, "dealname"), [s("")]);
    assert_eq!(strings(&b, "dealstage"), [s("")]);
    assert_eq!(bools(&b, "hs_is_closed"), [false]);
    assert_eq!(bools(&b, "hs_is_closed_won"), [false]);
    // Its top-level `contacts: ["contact A"]` is not the v3 associations shape.
    assert_eq!(strings(&b, "associated_contact_id"), [None]);
}

fn contact(id: &str, props: Value) -> Value {
    json!({"id": id, "properties": props, "createdAt": "2024-01-10T09:15:00Z",
           "updatedAt": "2024-05-01T00:00:00Z", "archived": false})
}

#[tokio::test]
async fn contacts_follow_paging_next_after() {
    let server = TestServer::start(|r: RecordedRequest| async move {
        match param(&r, "after").as_deref() {
            None => TestResponse::json(
                200,
                &json!({
                    "results": [contact("101", json!({
                        "createdate": "2024-01-10T09:15:00.000Z",
                        "lastmodifieddate": "2024-03-15T17:45:12.250Z",
                        "lifecyclestage": "opportunity",
                        "hs_lifecyclestage_lead_date": "2024-01-10T09:15:00.000Z",
                        "hs_lifecyclestage_marketingqualifiedlead_date": "2024-02-01T08:00:00Z",
                        "hs_lifecyclestage_salesqualifiedlead_date": "",
                        "hs_lifecyclestage_opportunity_date": "2024-03-15T17:45:12.250Z",
                        "hs_lifecyclestage_customer_date": null,
                        "hs_analytics_source": "PAID_SEARCH",
                        "hs_analytics_source_data_1": "spring_sale",
                        "hs_analytics_source_data_2": "running shoes",
                        "hs_analytics_first_url": "https://example.com/?utm_campaign=spring_sale"
                    }))],
                    "paging": {"next": {"after": "102", "link": "https://api.hubapi.com/crm/v3/objects/contacts?after=102"}}
                }),
            ),
            Some("102") => TestResponse::json(
                200,
                &json!({"results": [contact("102", json!({
                    "createdate": "2024-01-10T09:15:00Z",
                    "lifecyclestage": "other",
                    "hs_lifecyclestage_customer_date": "1706774400000",
                    "hs_churned_on": "2024-05-31",
                    "hs_analytics_source": "ORGANIC_SEARCH"
                }))]}),
            ),
            Some(other) => TestResponse::text(400, format!("unexpected after {other}")),
        }
    })
    .await;
    let c = connector(
        &server,
        "churn_date_property = \"hs_churned_on\"\nextra_contact_properties = [\"hs_analytics_first_url\"]\npage_size = 1",
    );
    let mut sink = CollectSink::default();
    let stats = c
        .read(&stream(&c, "contacts"), any_window(), &mut sink)
        .await
        .unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(param(&requests[0], "limit").as_deref(), Some("1"));
    assert_eq!(param(&requests[1], "after").as_deref(), Some("102"));
    assert_eq!(requests[1].path(), "/crm/v3/objects/contacts");
    let props = param(&requests[1], "properties").unwrap();
    assert!(
        props.ends_with(",hs_churned_on,hs_analytics_first_url"),
        "{props}"
    );
    assert_eq!((stats.pages, stats.rows), (2, 2));
    assert_eq!(sink.batches.len(), 2, "one batch per page");

    let b = all(&sink);
    assert_eq!(strings(&b, "id"), [s("101"), s("102")]);
    assert_eq!(
        millis(&b, "hs_lifecyclestage_lead_date"),
        [Some(1_704_878_100_000), None]
    );
    assert_eq!(
        millis(&b, "hs_lifecyclestage_marketingqualifiedlead_date"),
        [Some(1_706_774_400_000), None]
    );
    // "" is no value.
    assert_eq!(
        millis(&b, "hs_lifecyclestage_salesqualifiedlead_date"),
        [None, None]
    );
    assert_eq!(
        millis(&b, "hs_lifecyclestage_opportunity_date"),
        [Some(1_710_524_712_250), None]
    );
    // Epoch milliseconds as older payloads send them.
    assert_eq!(
        millis(&b, "hs_lifecyclestage_customer_date"),
        [None, Some(1_706_774_400_000)]
    );
    // A date property: midnight UTC.
    assert_eq!(millis(&b, "churn_date"), [None, Some(1_717_113_600_000)]);
    // Contact 102 has no lastmodifieddate property: updatedAt.
    assert_eq!(
        millis(&b, "lastmodifieddate"),
        [Some(1_710_524_712_250), Some(1_714_521_600_000)]
    );
    assert_eq!(
        strings(&b, "hs_analytics_source"),
        [s("PAID_SEARCH"), s("ORGANIC_SEARCH")]
    );
    assert_eq!(
        strings(&b, "hs_analytics_source_data_1"),
        [s("spring_sale"), None]
    );
    assert_eq!(
        strings(&b, "hs_analytics_first_url"),
        [s("https://example.com/?utm_campaign=spring_sale"), None]
    );
    assert_eq!(
        strings(&b, "lifecyclestage"),
        [s("opportunity"), s("other")]
    );
}

fn deal(id: &str, props: Value, contacts: &[&str]) -> Value {
    let mut d = json!({"id": id, "properties": props, "createdAt": "2024-01-10T09:15:00Z",
                       "updatedAt": "2024-05-01T00:00:00Z", "archived": false});
    if !contacts.is_empty() {
        let results: Vec<Value> = contacts
            .iter()
            .map(|c| json!({"id": c, "type": "deal_to_contact"}))
            .collect();
        d["associations"] = json!({"contacts": {"results": results}});
    }
    d
}

#[tokio::test]
async fn deals_page_with_amounts_stages_and_associations() {
    let server = TestServer::start(|r: RecordedRequest| async move {
        if r.path() != "/crm/v3/objects/deals" {
            return TestResponse::text(404, "unexpected path");
        }
        match param(&r, "after").as_deref() {
            None => TestResponse::json(
                200,
                &json!({
                    "results": [deal("9001", json!({
                        "dealname": "Acme renewal", "amount": "12500.50", "deal_currency_code": "GBP",
                        "createdate": "2024-01-10T09:15:00Z", "closedate": "2024-04-30T00:00:00Z",
                        "dealstage": "closedwon", "pipeline": "default",
                        "hs_is_closed": "true", "hs_is_closed_won": "true"
                    }), &["101", "102"])],
                    "paging": {"next": {"after": "MjAw"}}
                }),
            ),
            _ => TestResponse::json(
                200,
                &json!({"results": [deal("9002", json!({
                    "dealname": "Globex pilot", "amount": "", "deal_currency_code": null,
                    "createdate": "2024-03-15T17:45:12.250Z", "closedate": null,
                    "dealstage": "appointmentscheduled", "pipeline": "default",
                    "hs_is_closed": "false", "hs_is_closed_won": "false"
                }), &[])]}),
            ),
        }
    })
    .await;
    let c = connector(&server, "company_currency = \"eur\"");
    let mut sink = CollectSink::default();
    c.read(&stream(&c, "deals"), any_window(), &mut sink)
        .await
        .unwrap();
    let requests = server.requests();
    assert_eq!(
        requests.len(),
        2,
        "a configured currency asks the portal nothing"
    );
    assert_eq!(param(&requests[1], "after").as_deref(), Some("MjAw"));
    assert_eq!(
        param(&requests[1], "associations").as_deref(),
        Some("contacts")
    );
    let b = all(&sink);
    assert_eq!(strings(&b, "id"), [s("9001"), s("9002")]);
    assert_eq!(floats(&b, "amount"), [Some(12500.5), None]);
    assert_eq!(strings(&b, "deal_currency_code"), [s("GBP"), s("EUR")]);
    assert_eq!(
        strings(&b, "dealname"),
        [s("Acme renewal"), s("Globex pilot")]
    );
    assert_eq!(
        strings(&b, "dealstage"),
        [s("closedwon"), s("appointmentscheduled")]
    );
    assert_eq!(millis(&b, "closedate"), [Some(1_714_435_200_000), None]);
    assert_eq!(
        millis(&b, "createdate"),
        [Some(1_704_878_100_000), Some(1_710_524_712_250)]
    );
    assert_eq!(bools(&b, "hs_is_closed"), [true, false]);
    assert_eq!(bools(&b, "hs_is_closed_won"), [true, false]);
    assert_eq!(strings(&b, "associated_contact_id"), [s("101"), None]);
}

#[tokio::test]
async fn oauth2_refresh_token_is_exchanged_and_the_access_token_sent() {
    let server = TestServer::start(|r: RecordedRequest| async move {
        match r.path() {
            "/oauth/v1/token" => TestResponse::json(
                200,
                &json!({"token_type": "bearer", "access_token": "CJSP-access-token-abc", "expires_in": 1800,
                        "refresh_token": "refresh-token-789"}),
            ),
            _ => fixture(CONTACTS_FIXTURE),
        }
    })
    .await;
    let auth = format!(
        "[auth]\ntype = \"oauth2\"\ntoken_url = \"{}\"\nclient_id = {{ env = \"HUBSPOT_CLIENT_ID\" }}\n\
         client_secret = {{ env = \"HUBSPOT_CLIENT_SECRET\" }}\nrefresh_token = {{ env = \"HUBSPOT_REFRESH_TOKEN\" }}\n",
        server.url("/oauth/v1/token")
    );
    // Top-level keys must come before the [auth] table.
    let text = format!(
        "base_url = \"{}\"\nread_with = \"list\"\n{auth}",
        server.url("")
    );
    let config: HubSpotSource = toml::from_str(&text).unwrap();
    let c = config
        .connector_with(&|name| match name {
            "HUBSPOT_CLIENT_ID" => Some("client-id-123".into()),
            "HUBSPOT_CLIENT_SECRET" => Some("client-secret-456".into()),
            "HUBSPOT_REFRESH_TOKEN" => Some("refresh-token-789".into()),
            _ => None,
        })
        .unwrap();
    let report = c.check(&ctx()).await.unwrap();
    assert_eq!(report.summary, "HubSpot CRM: contacts readable");
    let requests = server.requests();
    assert_eq!(requests[0].path(), "/oauth/v1/token");
    assert!(requests[0].body_text().contains("grant_type=refresh_token"));
    assert_eq!(requests[1].path(), "/crm/v3/objects/contacts");
    assert_eq!(param(&requests[1], "limit").as_deref(), Some("1"));
    assert_eq!(
        requests[1].header("authorization"),
        Some("Bearer CJSP-access-token-abc")
    );
}

#[tokio::test]
async fn a_refused_token_names_the_variable_and_hubspot_message_but_not_the_token() {
    let server = TestServer::start(|_| async {
        TestResponse::json(
            401,
            &json!({"status": "error",
                    "message": "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                    "correlationId": "4f0a3c2e-1b7d-4c5e-9a8f-2d6b1e0c3a79", "category": "INVALID_AUTHENTICATION"}),
        )
    })
    .await;
    let c = connector(&server, "");
    for err in [
        c.read(
            &stream(&c, "contacts"),
            any_window(),
            &mut CollectSink::default(),
        )
        .await
        .unwrap_err(),
        c.check(&ctx()).await.unwrap_err(),
    ] {
        assert!(matches!(err, ConnectorError::Http(ref h) if h.status() == Some(401)));
        let text = err.to_string();
        eprintln!("{text}");
        assert!(text.contains("/crm/v3/objects/contacts"), "{text}");
        assert!(
            text.contains("returned 401 Unauthorized: Authentication credentials not found."),
            "{text}"
        );
        // The source and stream are the runner's to add (`hubspot.contacts: ...`).
        assert!(
            text.contains("[HubSpot refused the private app token in HUBSPOT_TOKEN"),
            "{text}"
        );
        assert!(!text.contains("source hubspot"), "{text}");
        assert!(!text.contains(TOKEN), "{text}");
    }
    // A refusal is not retried.
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn too_many_requests_with_retry_after_then_success_recovers() {
    let server = TestServer::sequence(vec![
        TestResponse::json(
            429,
            &json!({"status": "error", "message": "You have reached your secondly limit.",
                    "errorType": "RATE_LIMIT", "policyName": "SECONDLY"}),
        )
        .header("Retry-After", "1"),
        fixture(CONTACTS_FIXTURE),
    ])
    .await;
    let c = connector(&server, "");
    let mut sink = CollectSink::default();
    let t0 = std::time::Instant::now();
    let stats = c
        .read(&stream(&c, "contacts"), any_window(), &mut sink)
        .await
        .unwrap();
    assert!(t0.elapsed() >= std::time::Duration::from_secs(1));
    assert_eq!(
        (
            stats.rows,
            stats.requests,
            stats.retries,
            stats.throttled_waits
        ),
        (1, 2, 1, 1)
    );
    assert_eq!(strings(&all(&sink), "id"), [s("312929580")]);
}

#[tokio::test]
async fn malformed_json_is_a_clear_error() {
    let server = TestServer::start(|_| async {
        TestResponse::new(200)
            .header("content-type", "application/json")
            .body(r#"{"results": [{"id": "1", "properties": {"createdate": "2024-"#)
    })
    .await;
    let c = connector(&server, "");
    let err = c
        .read(
            &stream(&c, "deals"),
            any_window(),
            &mut CollectSink::default(),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("/crm/v3/objects/deals"), "{err}");
    assert!(err.contains("the response is not valid JSON"), "{err}");
    assert!(err.contains(r#"body starts: "{\"results\""#), "{err}");
}

#[tokio::test]
async fn a_bad_timestamp_names_row_and_field() {
    let server = TestServer::start(|_| async {
        TestResponse::json(
            200,
            &json!({"results": [contact("5", json!({"createdate": "23/02/2021 20:08"}))]}),
        )
    })
    .await;
    let c = connector(&server, "");
    let err = c
        .read(
            &stream(&c, "contacts"),
            any_window(),
            &mut CollectSink::default(),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            r#"row 0, field `createdate`: expected Timestamp (RFC 3339), got "23/02/2021 20:08""#
        ),
        "{err}"
    );
}

#[tokio::test]
async fn streams_are_snapshots_and_extra_properties_are_columns() {
    let server = TestServer::start(|_| async { TestResponse::new(404) }).await;
    let c = connector(&server, "extra_deal_properties = [\"hs_forecast_amount\"]");
    let streams = c.streams();
    for st in &streams {
        st.validate().unwrap();
        assert_eq!(st.write_mode, kpi_connector::WriteMode::Snapshot);
        assert_eq!(st.cursor, None);
        assert_eq!(st.primary_key, ["id"]);
    }
    let deals = &streams[1].schema;
    assert_eq!(deals.fields().len(), 12);
    assert_eq!(deals.field(11).name(), "hs_forecast_amount");
    assert!(deals.field(11).is_nullable());
    let mut other = streams[0].clone();
    other.name = "companies".into();
    let err = c
        .read(&other, any_window(), &mut CollectSink::default())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "unknown stream `companies`");
}
