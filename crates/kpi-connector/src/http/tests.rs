//! The HTTP layer against a real loopback server. Backoffs are milliseconds;
//! time assertions are lower bounds (waited at least as long as told) or
//! generous upper bounds, so a loaded machine cannot fail them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;
use crate::auth::{Auth, OAuth2Credentials};
use crate::secret::Secret;
use crate::testing::{TestResponse, TestServer};

fn fast() -> HttpSettings {
    HttpSettings {
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        ..HttpSettings::default()
    }
}

fn client(settings: HttpSettings, auth: Auth) -> HttpClient {
    HttpClient::new(&HttpConfig::default(), settings, auth).unwrap()
}

fn ok() -> TestResponse {
    TestResponse::json(200, &json!({"ok": true}))
}

#[tokio::test]
async fn server_errors_are_retried_until_success() {
    let server = TestServer::sequence(vec![
        TestResponse::text(500, "boom"),
        TestResponse::text(503, "busy"),
        ok(),
    ])
    .await;
    let c = client(fast(), Auth::None);
    let body: Value = c
        .send_json(&HttpRequest::get(server.url("/x")))
        .await
        .unwrap();
    assert_eq!(body, json!({"ok": true}));
    let stats = c.stats();
    assert_eq!(
        (stats.requests, stats.retries, stats.throttled_waits),
        (3, 2, 0)
    );
    assert_eq!(server.hits("/x"), 3);
}

#[tokio::test]
async fn too_many_requests_waits_for_retry_after() {
    let server = TestServer::sequence(vec![
        TestResponse::json(429, &json!({"error": {"message": "quota"}})).header("Retry-After", "1"),
        ok(),
    ])
    .await;
    let c = client(fast(), Auth::None);
    let t0 = Instant::now();
    c.send(&HttpRequest::get(server.url("/x"))).await.unwrap();
    assert!(t0.elapsed() >= Duration::from_secs(1), "{:?}", t0.elapsed());
    let stats = c.stats();
    assert_eq!((stats.retries, stats.throttled_waits), (1, 1));
    assert!(stats.throttled_time >= Duration::from_secs(1));
}

#[tokio::test]
async fn retry_after_is_capped() {
    let server = TestServer::sequence(vec![
        TestResponse::new(429).header("Retry-After", "3600"),
        ok(),
    ])
    .await;
    let settings = HttpSettings {
        max_retry_after: Duration::from_millis(50),
        ..fast()
    };
    let c = client(settings, Auth::None);
    let t0 = Instant::now();
    c.send(&HttpRequest::get(server.url("/x"))).await.unwrap();
    assert!(t0.elapsed() < Duration::from_secs(30));
    assert_eq!(c.stats().throttled_time, Duration::from_millis(50));
}

#[tokio::test]
async fn endless_429_fails_after_max_retries() {
    let server = TestServer::sequence(vec![TestResponse::json(
        429,
        &json!({"error": {"message": "Quota exceeded for quota metric 'Requests'"}}),
    )])
    .await;
    let settings = HttpSettings {
        max_retries: 3,
        ..fast()
    };
    let c = client(settings, Auth::None);
    let err = c
        .send(&HttpRequest::get(server.url("/x")))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert_eq!(err.retries(), 3);
    let text = err.to_string();
    assert!(
        text.contains("429 Too Many Requests after 3 retries"),
        "{text}"
    );
    assert!(text.contains("Quota exceeded"), "{text}");
    assert_eq!(server.hits("/x"), 4);
    assert_eq!(c.stats().throttled_waits, 3);
}

#[tokio::test]
async fn client_errors_carry_the_api_message_and_are_not_retried() {
    let body = json!({"error": {"code": 400, "message": "Invalid value at 'date_ranges[0].start_date' (TYPE_STRING), \"yesterday-ish\"", "status": "INVALID_ARGUMENT"}});
    let server = TestServer::sequence(vec![TestResponse::json(400, &body)]).await;
    let c = client(fast(), Auth::None);
    let err = c
        .send(&HttpRequest::post(server.url("/v1beta/properties/1:runReport")).json(&json!({})))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("POST http://127.0.0.1:"), "{text}");
    assert!(text.contains("/v1beta/properties/1:runReport returned 400 Bad Request: Invalid value at 'date_ranges[0].start_date'"), "{text}");
    assert_eq!(err.retries(), 0);
    assert_eq!(server.hits("/"), 1);
    assert_eq!(c.stats().retries, 0);
}

#[tokio::test]
async fn an_untrusted_certificate_is_not_retried() {
    let server = kpi_testkit::UntrustedTlsServer::start();
    let settings = HttpSettings {
        max_retries: 3,
        ..fast()
    };
    let c = client(settings, Auth::None);
    let err = c
        .send(&HttpRequest::get(format!(
            "https://localhost:{}/x",
            server.port()
        )))
        .await
        .unwrap_err();
    let HttpError::Transport { kind, retries, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!((*kind, *retries), (TransportKind::Certificate, 0), "{err}");
    assert!(
        err.to_string()
            .contains("the server's TLS certificate was not accepted"),
        "{err}"
    );
    assert_eq!(server.connections(), 1, "one handshake, no retry");
}

#[tokio::test]
async fn refused_connections_are_retried_then_reported() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let settings = HttpSettings {
        max_retries: 2,
        ..fast()
    };
    let c = client(settings, Auth::None);
    let err = c
        .send(&HttpRequest::get(format!("http://127.0.0.1:{port}/x")))
        .await
        .unwrap_err();
    let HttpError::Transport { kind, retries, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!((*kind, *retries), (TransportKind::Connect, 2));
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "GET http://127.0.0.1:{port}/x failed after 2 retries: could not connect"
        )),
        "{text}"
    );
    assert!(text.to_lowercase().contains("refused"), "{text}");
    assert_eq!(c.stats().requests, 3);
}

#[tokio::test]
async fn slow_responses_time_out_and_are_retried() {
    let calls = Arc::new(AtomicUsize::new(0));
    let n = calls.clone();
    let server = TestServer::start(move |_| {
        let first = n.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            if first {
                ok().delay(Duration::from_secs(3))
            } else {
                ok()
            }
        }
    })
    .await;
    let settings = HttpSettings {
        timeout: Duration::from_millis(300),
        ..fast()
    };
    let c = client(settings, Auth::None);
    c.send(&HttpRequest::get(server.url("/x"))).await.unwrap();
    assert_eq!(c.stats().retries, 1);
    assert_eq!(server.hits("/x"), 2);
}

#[tokio::test]
async fn always_slow_fails_with_a_timeout() {
    let server = TestServer::sequence(vec![ok().delay(Duration::from_secs(3))]).await;
    let settings = HttpSettings {
        timeout: Duration::from_millis(200),
        max_retries: 1,
        ..fast()
    };
    let c = client(settings, Auth::None);
    let err = c
        .send(&HttpRequest::get(server.url("/x")))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            HttpError::Transport {
                kind: TransportKind::Timeout,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .ends_with("failed after 1 retry: timed out after 0.2s"),
        "{err}"
    );
}

#[tokio::test]
async fn truncated_bodies_are_retried() {
    let server = TestServer::sequence(vec![
        TestResponse::json(200, &json!({"rows": [1, 2, 3]})).header("content-length", "500"),
        TestResponse::json(200, &json!({"rows": [1, 2, 3]})),
    ])
    .await;
    let c = client(fast(), Auth::None);
    let body: Value = c
        .send_json(&HttpRequest::get(server.url("/x")))
        .await
        .unwrap();
    assert_eq!(body["rows"], json!([1, 2, 3]));
    assert_eq!(c.stats().retries, 1);
}

#[tokio::test]
async fn malformed_json_is_a_clear_error() {
    let server = TestServer::sequence(vec![TestResponse::text(200, "{\"rows\": [1, 2")]).await;
    let c = client(fast(), Auth::None);
    let err = c
        .send_json::<Value>(&HttpRequest::get(server.url("/x")))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("/x: the response is not valid JSON: EOF"),
        "{text}"
    );
    assert!(
        text.contains(r#"body starts: "{\"rows\": [1, 2""#),
        "{text}"
    );
    assert_eq!(server.hits("/x"), 1);
}

/// A token endpoint at `/token` handing out `at-1`, `at-2`, …, and an API
/// under `/api` answered by `api(authorization header)`.
async fn oauth_server<F>(api: F) -> (TestServer, OAuth2Credentials)
where
    F: Fn(Option<String>) -> TestResponse + Send + Sync + 'static,
{
    let issued = Arc::new(AtomicUsize::new(0));
    let server = TestServer::start(move |req| {
        let response = if req.path() == "/token" {
            assert_eq!(req.method, "POST");
            let body = req.body_text();
            assert!(body.contains("grant_type=refresh_token"), "{body}");
            assert!(body.contains("refresh_token=rt-REFRESH-777"), "{body}");
            assert!(body.contains("client_secret=cs-SECRET-999"), "{body}");
            let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
            TestResponse::json(200, &json!({"access_token": format!("at-{n}"), "expires_in": 3599, "token_type": "Bearer", "instance_url": format!("https://instance-{n}.example.com")}))
        } else {
            api(req.header("authorization").map(str::to_string))
        };
        async move { response }
    })
    .await;
    let creds = OAuth2Credentials {
        token_url: server.url("/token"),
        client_id: Secret::new("client-id-1"),
        client_secret: Secret::new("cs-SECRET-999"),
        refresh_token: Secret::new("rt-REFRESH-777"),
        scope: None,
    };
    (server, creds)
}

#[tokio::test]
async fn oauth_token_is_fetched_once_and_reused() {
    let (server, creds) = oauth_server(|auth| {
        assert_eq!(auth.as_deref(), Some("Bearer at-1"));
        ok()
    })
    .await;
    let c = client(fast(), Auth::OAuth2(creds));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let (c, url) = (c.clone(), server.url("/api/items"));
        tasks.spawn(async move { c.send(&HttpRequest::get(url)).await.map(|_| ()) });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap().unwrap();
    }
    for _ in 0..3 {
        c.send(&HttpRequest::get(server.url("/api/items")))
            .await
            .unwrap();
    }
    assert_eq!(server.hits("/token"), 1);
    assert_eq!(server.hits("/api"), 8);
    assert_eq!(c.stats().token_refreshes, 1);
}

/// A member of the token response (Salesforce's `instance_url`) comes
/// from the response that gave the current token: read before any request,
/// it fetches the token, which requests then reuse; credentials are not
/// handed out.
#[tokio::test]
async fn a_token_response_member_comes_with_the_current_token() {
    let (server, creds) = oauth_server(|_| ok()).await;
    let c = client(fast(), Auth::OAuth2(creds));
    assert_eq!(
        c.token_response_field("instance_url")
            .await
            .unwrap()
            .as_deref(),
        Some("https://instance-1.example.com")
    );
    assert_eq!(c.token_response_field("access_token").await.unwrap(), None);
    assert_eq!(c.token_response_field("nothing").await.unwrap(), None);
    c.send(&HttpRequest::get(server.url("/api/items")))
        .await
        .unwrap();
    assert_eq!(server.hits("/token"), 1);
    let plain = client(fast(), Auth::None);
    assert_eq!(
        plain.token_response_field("instance_url").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_401_refreshes_once_and_retries_once() {
    let (server, creds) = oauth_server(|auth| match auth.as_deref() {
        Some("Bearer at-2") => ok(),
        _ => TestResponse::json(
            401,
            &json!({"error": {"message": "Request had invalid authentication credentials."}}),
        ),
    })
    .await;
    let c = client(fast(), Auth::OAuth2(creds));
    c.send(&HttpRequest::get(server.url("/api/items")))
        .await
        .unwrap();
    assert_eq!(server.hits("/token"), 2);
    assert_eq!(server.hits("/api"), 2);
    assert_eq!(c.stats().retries, 1);
    // The new token is cached.
    c.send(&HttpRequest::get(server.url("/api/items")))
        .await
        .unwrap();
    assert_eq!(server.hits("/token"), 2);
}

#[tokio::test]
async fn a_second_401_fails() {
    let (server, creds) = oauth_server(|_| {
        TestResponse::json(
            401,
            &json!({"error": {"message": "Request had invalid authentication credentials."}}),
        )
    })
    .await;
    let c = client(fast(), Auth::OAuth2(creds));
    let err = c
        .send(&HttpRequest::get(server.url("/api/items")))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    let text = err.to_string();
    assert!(text.contains("401 Unauthorized"), "{text}");
    assert!(text.contains("Request had invalid authentication credentials. (still 401 with a freshly refreshed access token)"), "{text}");
    assert_eq!(server.hits("/token"), 2);
    assert_eq!(server.hits("/api"), 2);
}

#[tokio::test]
async fn a_refused_refresh_is_a_clear_error() {
    let server = TestServer::start(|req| async move {
        if req.path() == "/token" {
            TestResponse::json(
                400,
                &json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
            )
        } else {
            ok()
        }
    })
    .await;
    let creds = OAuth2Credentials {
        token_url: server.url("/token"),
        client_id: Secret::new("client-id-1"),
        client_secret: Secret::new("cs-SECRET-999"),
        refresh_token: Secret::new("rt-REFRESH-777"),
        scope: Some("https://www.googleapis.com/auth/adwords".into()),
    };
    let c = client(fast(), Auth::OAuth2(creds));
    let err = c
        .send(&HttpRequest::get(server.url("/api/items")))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "OAuth2 token refresh failed at {}: 400 Bad Request invalid_grant: Token has been expired or revoked.",
            server.url("/token")
        )
    );
    assert_eq!(err.status(), Some(400));
    assert_eq!(server.hits("/token"), 1);
    assert_eq!(server.hits("/api"), 0);
    assert!(
        server.requests()[0]
            .body_text()
            .contains("scope=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fadwords")
    );
}

#[tokio::test]
async fn a_failing_token_endpoint_is_retried_then_reported() {
    let server = TestServer::sequence(vec![TestResponse::text(503, "unavailable")]).await;
    let creds = OAuth2Credentials {
        token_url: server.url("/token"),
        client_id: Secret::new("client-id-1"),
        client_secret: Secret::new("cs-SECRET-999"),
        refresh_token: Secret::new("rt-REFRESH-777"),
        scope: None,
    };
    let settings = HttpSettings {
        max_retries: 2,
        ..fast()
    };
    let c = client(settings, Auth::OAuth2(creds));
    let err = c
        .send(&HttpRequest::get(server.url("/api")))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("/token: 503 Service Unavailable unavailable"),
        "{err}"
    );
    assert_eq!(server.hits("/token"), 3);
}

#[tokio::test]
async fn secrets_never_reach_error_messages() {
    // The API echoes everything it was sent: the classic way a token leaks.
    let (server, creds) = oauth_server(|auth| {
        let auth = auth.unwrap_or_default();
        TestResponse::json(
            403,
            &json!({"error": {"message": format!(
                "token {} invalid; client_secret cs-SECRET-999; refresh rt-REFRESH-777; key APIKEY-123; dev DEVTOKEN-42",
                auth.trim_start_matches("Bearer ")
            )}}),
        )
    })
    .await;
    let c = HttpClient::builder(&HttpConfig::default(), fast())
        .auth(Auth::OAuth2(creds))
        .secret_header("developer-token", &Secret::new("DEVTOKEN-42"))
        .header("login-customer-id", "1112223333")
        .build()
        .unwrap();
    let err = c
        .send(
            &HttpRequest::get(server.url("/api/fail"))
                .query("access_token", "at-1")
                .query("key", "APIKEY-123")
                .query("fields", "id,name"),
        )
        .await
        .unwrap_err();
    let text = format!("{err} {err:?}");
    for secret in [
        "at-1",
        "cs-SECRET-999",
        "rt-REFRESH-777",
        "APIKEY-123",
        "DEVTOKEN-42",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    assert!(text.contains("access_token=***"), "{text}");
    assert!(text.contains("fields=id%2Cname"), "{text}");
    let sent = &server.requests()[1];
    assert_eq!(sent.header("developer-token"), Some("DEVTOKEN-42"));
    assert_eq!(sent.header("login-customer-id"), Some("1112223333"));
}

#[tokio::test]
async fn secrets_in_transport_errors_are_removed() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let settings = HttpSettings {
        max_retries: 0,
        ..fast()
    };
    let c = client(settings, Auth::Bearer(Secret::new("static-token-xyz")));
    let err = c
        .send(&HttpRequest::get(format!(
            "http://127.0.0.1:{port}/x/static-token-xyz?token=abcdef"
        )))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        !text.contains("static-token-xyz") && !text.contains("abcdef"),
        "{text}"
    );
    assert!(text.contains("/x/***?token=***"), "{text}");
}

#[tokio::test]
async fn static_credentials_and_headers_are_sent() {
    let server = TestServer::sequence(vec![ok()]).await;
    let c = HttpClient::builder(&HttpConfig::default(), fast())
        .auth(Auth::ApiKey {
            header: "x-api-key".into(),
            key: Secret::new("KEY-1234"),
        })
        .header("accept", "application/json")
        .build()
        .unwrap();
    c.send(
        &HttpRequest::post(server.url("/a"))
            .json(&json!({"q": 1}))
            .header("x-trace", "t1"),
    )
    .await
    .unwrap();
    let b = client(fast(), Auth::Bearer(Secret::new("hs-pat-1")));
    b.send(&HttpRequest::get(server.url("/b"))).await.unwrap();
    let reqs = server.requests();
    assert_eq!(reqs[0].header("x-api-key"), Some("KEY-1234"));
    assert_eq!(reqs[0].header("x-trace"), Some("t1"));
    assert_eq!(reqs[0].header("content-type"), Some("application/json"));
    assert_eq!(reqs[0].body_text(), r#"{"q":1}"#);
    assert_eq!(reqs[1].header("authorization"), Some("Bearer hs-pat-1"));
    assert!(reqs[1].header("user-agent").unwrap().starts_with("kpi/"));
}

#[tokio::test]
async fn basic_auth_is_sent_and_never_shown() {
    // The API echoes the header it got: neither the key nor its base64 may leak.
    let server = TestServer::start(|r| async move {
        let sent = r.header("authorization").unwrap_or_default().to_string();
        TestResponse::json(401, &json!({"title": "API Key Invalid", "detail": sent}))
    })
    .await;
    let c = client(
        fast(),
        Auth::Basic {
            username: "kpi".into(),
            password: Secret::new("k3y-us6"),
        },
    );
    let err = c
        .send(&HttpRequest::get(server.url("/3.0/")))
        .await
        .unwrap_err();
    // base64("kpi:k3y-us6")
    assert_eq!(
        server.requests()[0].header("authorization"),
        Some("Basic a3BpOmszeS11czY=")
    );
    let text = format!("{err} {err:?}");
    assert!(text.contains("API Key Invalid: Basic ***"), "{text}");
    assert!(
        !text.contains("a3BpOmszeS11czY") && !text.contains("k3y-us6"),
        "{text}"
    );
}

#[tokio::test]
async fn concurrency_never_exceeds_the_limit() {
    let server = TestServer::sequence(vec![ok().delay(Duration::from_millis(100))]).await;
    let settings = HttpSettings {
        max_concurrency: 2,
        ..fast()
    };
    let c = client(settings, Auth::None);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (c, url) = (c.clone(), server.url(&format!("/x/{i}")));
        tasks.spawn(async move { c.send(&HttpRequest::get(url)).await.map(|_| ()) });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap().unwrap();
    }
    assert_eq!(server.hits("/x"), 8);
    assert!(server.max_in_flight() <= 2, "{}", server.max_in_flight());
    assert!(server.max_in_flight() >= 1);
}

#[tokio::test]
async fn requests_per_second_spaces_requests() {
    let server = TestServer::sequence(vec![ok()]).await;
    let config: HttpConfig = toml::from_str("requests_per_second = 20").unwrap();
    let c = HttpClient::new(&config, fast(), Auth::None).unwrap();
    let t0 = Instant::now();
    for _ in 0..5 {
        c.send(&HttpRequest::get(server.url("/x"))).await.unwrap();
    }
    // Five starts, four gaps of 50 ms.
    assert!(
        t0.elapsed() >= Duration::from_millis(200),
        "{:?}",
        t0.elapsed()
    );
}

#[tokio::test]
async fn streaming_hands_over_the_body() {
    let body: String = (0..20_000).map(|i| format!("{i},")).collect();
    let server = TestServer::sequence(vec![
        TestResponse::text(500, "again"),
        TestResponse::text(200, body.clone()),
    ])
    .await;
    let c = client(fast(), Auth::None);
    let mut r = c
        .send_streaming(&HttpRequest::post(server.url("/stream")))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut got = Vec::new();
    while let Some(chunk) = r.chunk().await.unwrap() {
        got.extend_from_slice(&chunk);
    }
    assert_eq!(got, body.as_bytes());
    assert_eq!(c.stats().retries, 1);
}

#[test]
fn config_overrides_connector_defaults() {
    let connector = HttpSettings {
        requests_per_second: Some(10.0),
        max_concurrency: 10,
        ..HttpSettings::default()
    };
    let none = HttpConfig::default().resolve(&connector).unwrap();
    assert_eq!(none, connector);
    let text = "timeout_secs = 120\nmax_retries = 8\nbackoff_base_secs = 0.25\nrequests_per_second = 2.5\nmax_concurrency = 2";
    let config: HttpConfig = toml::from_str(text).unwrap();
    let s = config.resolve(&connector).unwrap();
    assert_eq!(s.timeout, Duration::from_secs(120));
    assert_eq!(s.connect_timeout, Duration::from_secs(10));
    assert_eq!(s.max_retries, 8);
    assert_eq!(s.backoff_base, Duration::from_millis(250));
    assert_eq!(s.backoff_max, Duration::from_secs(60));
    assert_eq!(s.requests_per_second, Some(2.5));
    assert_eq!(s.max_concurrency, 2);
    let lifted: HttpConfig = toml::from_str("requests_per_second = 0").unwrap();
    assert_eq!(
        lifted.resolve(&connector).unwrap().requests_per_second,
        None
    );
}

#[test]
fn crate_defaults_are_the_documented_ones() {
    let s = HttpSettings::default();
    assert_eq!(s.timeout, Duration::from_secs(60));
    assert_eq!(s.connect_timeout, Duration::from_secs(10));
    assert_eq!(s.max_retries, 5);
    assert_eq!(s.backoff_base, Duration::from_millis(500));
    assert_eq!(s.backoff_max, Duration::from_secs(60));
    assert_eq!(s.requests_per_second, None);
    assert_eq!(s.max_concurrency, 4);
}

#[test]
fn bad_config_is_refused() {
    assert!(toml::from_str::<HttpConfig>("timeout = 3").is_err());
    let resolve = |t: &str| {
        toml::from_str::<HttpConfig>(t)
            .unwrap()
            .resolve(&HttpSettings::default())
    };
    assert_eq!(
        resolve("timeout_secs = -1").unwrap_err().to_string(),
        "invalid HTTP settings: timeout_secs must be a positive number of seconds, got -1"
    );
    assert!(resolve("max_concurrency = 0").is_err());
    assert!(resolve("requests_per_second = -2").is_err());
    assert!(resolve("backoff_base_secs = 10\nbackoff_max_secs = 1").is_err());
    assert!(resolve("backoff_base_secs = 0").is_ok());
}

#[test]
fn request_debug_hides_credentials() {
    let r = HttpRequest::get("https://graph.facebook.com/v19.0/act_1/insights")
        .query("access_token", "EAAB-secret")
        .query("level", "campaign");
    assert_eq!(
        format!("{r:?}"),
        "HttpRequest(GET https://graph.facebook.com/v19.0/act_1/insights?access_token=***&level=campaign)"
    );
}

/// Collects formatted log lines.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn retry_log_lines_are_redacted() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // A current-thread runtime keeps every poll on this thread, under the guard.
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = TestServer::sequence(vec![
        TestResponse::text(
            500,
            "backend saw token EAAB-meta-token-1 and secret hs-pat-LEAK",
        ),
        ok(),
    ])
    .await;
    let c = client(fast(), Auth::Bearer(Secret::new("hs-pat-LEAK")));
    c.send(&HttpRequest::get(server.url("/x")).query("access_token", "EAAB-meta-token-1"))
        .await
        .unwrap();
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("500 Internal Server Error"), "{log}");
    assert!(log.contains("retrying in"), "{log}");
    assert!(
        !log.contains("EAAB-meta-token-1") && !log.contains("hs-pat-LEAK"),
        "{log}"
    );
}

#[tokio::test]
async fn counted_scopes_see_only_their_own_requests() {
    // One failure, then successes: whichever scope meets the 500 owns the retry.
    let server =
        TestServer::sequence(vec![TestResponse::text(500, "boom"), ok(), ok(), ok()]).await;
    let c = client(fast(), Auth::None);
    let one = async {
        c.send(&HttpRequest::get(server.url("/x"))).await.unwrap();
        c.send(&HttpRequest::get(server.url("/x"))).await.unwrap();
    };
    let two = async {
        c.send(&HttpRequest::get(server.url("/x"))).await.unwrap();
    };
    let ((_, a), (_, b)) = tokio::join!(counted(one), counted(two));
    // Four requests in all, one of them a retry; each scope counts its own.
    assert_eq!(a.requests + b.requests, 4);
    assert_eq!(a.retries + b.retries, 1);
    assert_eq!(a.requests - a.retries, 2, "{a:?}");
    assert_eq!(b.requests - b.retries, 1, "{b:?}");
    assert_eq!(c.stats().requests, 4);
}

/// A 400 the API means as "slow down" (Meta's `(#17)`), per the connector's
/// throttle rule: waited out `attempts` times, doubling, counted as
/// throttled waits; then returned. Other 400s fail at once.
#[tokio::test]
async fn a_throttle_rule_waits_out_the_apis_own_rate_limit_codes() {
    fn meta_limit(status: u16, message: &str) -> bool {
        status == 400 && message.starts_with("(#17)")
    }
    let limit = || {
        TestResponse::json(
            400,
            &json!({"error": {"message": "(#17) User request limit reached"}}),
        )
    };
    let rule = ThrottleRule {
        matches: meta_limit,
        wait: Duration::from_millis(20),
        attempts: 2,
    };
    let with_rule = || {
        HttpClient::builder(&HttpConfig::default(), fast())
            .throttle_rule(rule)
            .build()
            .unwrap()
    };

    let server = TestServer::sequence(vec![limit(), limit(), ok()]).await;
    let c = with_rule();
    let t0 = Instant::now();
    c.send(&HttpRequest::get(server.url("/x"))).await.unwrap();
    assert!(
        t0.elapsed() >= Duration::from_millis(60),
        "20 ms then 40 ms"
    );
    let stats = c.stats();
    assert_eq!(
        (stats.requests, stats.retries, stats.throttled_waits),
        (3, 2, 2)
    );

    // A third refusal in a row is the API's answer.
    let server = TestServer::sequence(vec![limit(), limit(), limit(), ok()]).await;
    let err = with_rule()
        .send(&HttpRequest::get(server.url("/x")))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(
        err.to_string().contains("(#17) User request limit reached"),
        "{err}"
    );
    assert_eq!(server.requests().len(), 3);

    // Another 400 is not a rate limit.
    let server = TestServer::sequence(vec![
        TestResponse::json(
            400,
            &json!({"error": {"message": "(#100) Invalid parameter"}}),
        ),
        ok(),
    ])
    .await;
    let err = with_rule()
        .send(&HttpRequest::get(server.url("/x")))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert_eq!(server.requests().len(), 1);
}
