//! `token_url` beside `base_url`, through the binary: `kpi check` shows
//! where a GA4 source's requests go and sends the OAuth2 token request to
//! the `token_url` it names; a `base_url` pointed at a test server without
//! a `token_url` is refused before any request, so the client secret and
//! refresh token meant for the test server never go to Google.
//!
//! Google's token endpoint is an https URL; every test here sets
//! `HTTPS_PROXY` to a second local server, so a request meant for Google
//! would arrive there (as a `CONNECT oauth2.googleapis.com:443`) instead of
//! leaving the machine. The last test shows that trap catches one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kpi_connector::testing::{RecordedRequest, TestResponse, TestServer};

const KPI: &str = env!("CARGO_BIN_EXE_kpi");
const CLIENT_ID: &str = "client-id-7c1e.apps.example";
const CLIENT_SECRET: &str = "client-secret-5f2a9d";
const REFRESH_TOKEN: &str = "refresh-token-1b8e44";
const ACCESS_TOKEN: &str = "ya29.access-token-9d03";

/// A GA4 Data API stand-in with its own token endpoint at `/token`.
async fn ga4_server() -> TestServer {
    TestServer::start(|r: RecordedRequest| async move {
        if r.path() == "/token" {
            return TestResponse::json(
                200,
                &serde_json::json!({"access_token": ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer"}),
            );
        }
        if r.header("authorization") != Some(&format!("Bearer {ACCESS_TOKEN}")) {
            return TestResponse::json(
                401,
                &serde_json::json!({"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}),
            );
        }
        if r.path().ends_with(":runReport") {
            return TestResponse::json(
                200,
                &serde_json::json!({"metricHeaders": [{"name": "sessions", "type": "TYPE_INTEGER"}],
                                    "rowCount": 0,
                                    "metadata": {"currencyCode": "EUR", "timeZone": "Europe/Madrid"},
                                    "kind": "analyticsData#runReport"}),
            );
        }
        TestResponse::json(404, &serde_json::json!({"error": {"code": 404, "message": "not found"}}))
    })
    .await
}

/// Records whatever reaches it and refuses it: stands for the internet.
async fn trap() -> TestServer {
    TestServer::start(|_| async { TestResponse::text(403, "no") }).await
}

fn write_config(dir: &Path, base_url: &str, token_url: Option<&str>) -> PathBuf {
    let token_url = token_url
        .map(|u| format!("token_url = \"{u}\"\n"))
        .unwrap_or_default();
    let cfg = dir.join("kpi.toml");
    std::fs::write(
        &cfg,
        format!(
            "[reporting]\ncurrency = \"EUR\"\ntimezone = \"Europe/Madrid\"\n\n\
             [sources.ga4]\ntype = \"ga4\"\nproperty_ids = [\"123456789\"]\n\
             base_url = \"{base_url}\"\n{token_url}\
             http = {{ max_retries = 0 }}\n"
        ),
    )
    .unwrap();
    cfg
}

/// `kpi check` with the GA4 secrets set and https traffic sent to `trap`.
async fn check(cfg: PathBuf, trap: &TestServer) -> Output {
    let proxy = trap.url("");
    tokio::task::spawn_blocking(move || {
        Command::new(KPI)
            .arg("--config")
            .arg(&cfg)
            .arg("check")
            .env("GA4_CLIENT_ID", CLIENT_ID)
            .env("GA4_CLIENT_SECRET", CLIENT_SECRET)
            .env("GA4_REFRESH_TOKEN", REFRESH_TOKEN)
            .env("HTTPS_PROXY", &proxy)
            .env("https_proxy", &proxy)
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("ALL_PROXY")
            .env_remove("all_proxy")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_no_secret(all: &str) {
    for secret in [CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, ACCESS_TOKEN] {
        assert!(!all.contains(secret), "{secret} printed:\n{all}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn check_shows_both_urls_and_posts_the_token_request_to_token_url() {
    let server = ga4_server().await;
    let internet = trap().await;
    let dir = tempfile::tempdir().unwrap();
    let (base, token) = (server.url(""), server.url("/token"));
    let out = check(write_config(dir.path(), &base, Some(&token)), &internet).await;
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("ga4 (ga4): OK, property 123456789 (EUR, Europe/Madrid)"),
        "{all}"
    );
    assert!(
        all.contains(&format!("  base_url {base}, token_url {token}\n")),
        "{all}"
    );
    assert_no_secret(&all);

    // The refresh token went to the test server's token endpoint, then the
    // access token it gave came with the API request.
    let requests = server.requests();
    let paths: Vec<_> = requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.path()))
        .collect();
    assert_eq!(
        paths,
        ["POST /token", "POST /v1beta/properties/123456789:runReport"],
        "{requests:?}"
    );
    let form = requests[0].body_text();
    for part in [
        "grant_type=refresh_token".to_string(),
        format!("refresh_token={REFRESH_TOKEN}"),
        format!("client_secret={CLIENT_SECRET}"),
    ] {
        assert!(form.contains(&part), "{form}");
    }
    assert!(internet.requests().is_empty(), "{:?}", internet.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_test_base_url_without_token_url_is_refused_and_nothing_is_sent() {
    let server = ga4_server().await;
    let internet = trap().await;
    let dir = tempfile::tempdir().unwrap();
    let base = server.url("");
    let out = check(write_config(dir.path(), &base, None), &internet).await;
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    assert!(
        all.contains(&format!(
            "kpi.toml: line 8: sources.ga4: token_url is not set, and base_url {base} is not \
             the real API (https://analyticsdata.googleapis.com): set token_url beside base_url"
        )),
        "{all}"
    );
    assert!(all.contains("1 problem(s) in "), "{all}");
    assert_no_secret(&all);
    // No request reached the test server, nor anything else.
    assert!(server.requests().is_empty(), "{:?}", server.requests());
    assert!(internet.requests().is_empty(), "{:?}", internet.requests());
}

/// The trap works: a config that names Google's token endpoint on purpose
/// has its token request caught by the `HTTPS_PROXY` server.
#[tokio::test(flavor = "multi_thread")]
async fn the_proxy_trap_catches_a_request_for_google() {
    let server = ga4_server().await;
    let internet = trap().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &server.url(""),
        Some("https://oauth2.googleapis.com/token"),
    );
    let out = check(cfg, &internet).await;
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    assert!(
        all.contains("token_url https://oauth2.googleapis.com/token"),
        "{all}"
    );
    assert_no_secret(&all);
    let caught: Vec<_> = internet
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    assert_eq!(caught, ["CONNECT oauth2.googleapis.com:443"], "{all}");
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}
