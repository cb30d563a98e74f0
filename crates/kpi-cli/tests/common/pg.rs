//! The real PostgreSQL server of the tests (`KPI_TEST_POSTGRES_URL`,
//! which `.ci/run` sets; a run that sets it without a server fails).

/// The test server's URL; `None` (the test says it skipped) without one.
pub fn url() -> Option<String> {
    match std::env::var("KPI_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            eprintln!("skipped: KPI_TEST_POSTGRES_URL is not set (.ci/run sets it)");
            None
        }
    }
}

/// Runs `f` with a client of `url`.
fn with_client<T>(url: &str, f: impl AsyncFnOnce(tokio_postgres::Client) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("KPI_TEST_POSTGRES_URL is set but PostgreSQL answers: {e}"));
        tokio::spawn(conn);
        f(client).await
    })
}

/// Runs the statements of `sql`.
pub fn execute(url: &str, sql: &str) {
    with_client(url, async |client| client.batch_execute(sql).await.unwrap())
}

/// Runs `sql` and returns the first column of its first row as text
/// (`NULL` for a NULL, empty without a row).
pub fn query(url: &str, sql: &str) -> String {
    with_client(url, async |client| {
        let rows = client.simple_query(sql).await.unwrap();
        rows.iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => {
                    Some(r.get(0).unwrap_or("NULL").to_string())
                }
                _ => None,
            })
            .unwrap_or_default()
    })
}

/// Whether the server takes TLS connections (`SHOW ssl`).
pub fn server_has_tls(url: &str) -> bool {
    query(url, "SHOW ssl") == "on"
}
