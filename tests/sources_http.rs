//! Source plumbing end to end: request headers, proxies (configured and from the environment),
//! and the life of an MSRC document from "Early" to final to vanished.

mod common;

use common::*;

fn msrc_entry(id: &str, title: &str, date: &str) -> String {
    format!(
        r#"{{"ID":"{id}","Alias":"{id}","DocumentTitle":"{title}","Severity":null,"InitialReleaseDate":"{date}","CurrentReleaseDate":"{date}","CvrfUrl":"https://api.msrc.microsoft.com/cvrf/v3.0/cvrf/{id}"}}"#
    )
}

fn index(entries: &[String]) -> Vec<u8> {
    format!(
        r#"{{"@odata.context":"x","value":[{}]}}"#,
        entries.join(",")
    )
    .into_bytes()
}

/// `msrc_extra`: settings of the msrc source, as lines indented under it.
fn config(msrc_url: &str, msrc_extra: &str, releases_url: &str) -> String {
    let extra: String = msrc_extra
        .lines()
        .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
        .collect();
    TestConfig::new()
        .defaults("200ms", Some("2s"))
        .tier("english", "24h", &["msrc"], "")
        // The index only: tests/msrc_out_of_band.rs reads documents.
        .msrc(msrc_url, &format!("out_of_band: false\n{extra}"))
        .source(
            "vendor",
            "releases",
            "csv",
            releases_url,
            "id: id\npublished: published\ntiers: [english]\n",
        )
        .text()
}

const RELEASES: &[u8] = b"id,published\nr1,2024-03-01T00:00:00Z\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_and_configured_proxy_are_used() {
    let upstream = Upstream::start().await;
    let proxy = Upstream::start().await;
    // The proxy answers for the upstream: a request that reaches it proves the proxy was used.
    proxy.set(
        "/cvrf/v3.0/updates",
        Behavior::Ok(index(&[msrc_entry(
            "2024-Apr",
            "April 2024 Security Updates",
            "2024-04-09T07:00:00",
        )])),
    );
    upstream.set("/releases.csv", Behavior::Ok(RELEASES.to_vec()));
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = format!("    proxy_url: {}\n    headers:\n      Authorization: Bearer s3cret-token\n      X-Client: patchlag-test\n", proxy.base);
    let cfg = write_config(
        dir.path(),
        &config(
            "http://api.msrc.invalid/cvrf/v3.0/updates",
            &extra,
            &upstream.url("/releases.csv"),
        ),
    );
    let db = dir.path().join("x.db");
    let exporter = Exporter::start(&[
        "--config.file",
        cfg.to_str().expect("utf-8"),
        "--storage.path",
        db.to_str().expect("utf-8"),
    ]);
    exporter.wait_ready().await;
    let m = exporter.scrape().await;
    assert_eq!(
        value(&m, "patchlag_source_up", &[("source", "msrc")]),
        1.0,
        "{m}"
    );
    assert_eq!(
        value(&m, "patchlag_source_records", &[("source", "msrc")]),
        1.0
    );
    let headers = proxy
        .last_headers("/cvrf/v3.0/updates")
        .expect("the proxy saw the request");
    assert_eq!(
        headers.get("authorization").and_then(|v| v.to_str().ok()),
        Some("Bearer s3cret-token")
    );
    assert_eq!(
        headers.get("x-client").and_then(|v| v.to_str().ok()),
        Some("patchlag-test")
    );
    assert!(headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| ua.starts_with("patchlag-exporter/")));
    // The other source went direct.
    assert!(upstream.hits("/releases.csv") >= 1);
    // Secrets stay out of logs and the status API.
    assert!(!exporter.logs().join("\n").contains("s3cret-token"));
    let (_, status) = exporter.get("/api/v1/status").await;
    assert!(!status.contains("s3cret-token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_proxy_environment_variables_apply() {
    let proxy = Upstream::start().await;
    proxy.set(
        "/cvrf/v3.0/updates",
        Behavior::Ok(index(&[msrc_entry(
            "2024-Apr",
            "April 2024 Security Updates",
            "2024-04-09T07:00:00",
        )])),
    );
    proxy.set("/releases.csv", Behavior::Ok(RELEASES.to_vec()));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        &config(
            "http://api.msrc.invalid/cvrf/v3.0/updates",
            "",
            "http://vendor.invalid/releases.csv",
        ),
    );
    let db = dir.path().join("x.db");
    // Only through the proxy can the .invalid hosts answer.
    let exporter = Exporter::start_with_env(
        &[
            "--config.file",
            cfg.to_str().expect("utf-8"),
            "--storage.path",
            db.to_str().expect("utf-8"),
        ],
        &[("HTTP_PROXY", &proxy.base), ("NO_PROXY", "localhost")],
    );
    exporter.wait_ready().await;
    let m = exporter.scrape().await;
    assert_eq!(
        value(&m, "patchlag_source_up", &[("source", "msrc")]),
        1.0,
        "{m}"
    );
    assert_eq!(
        value(&m, "patchlag_source_up", &[("source", "vendor")]),
        1.0,
        "{m}"
    );
    assert!(proxy.hits("/releases.csv") >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msrc_document_from_early_to_final_to_vanished() {
    let upstream = Upstream::start().await;
    upstream.set("/releases.csv", Behavior::Ok(RELEASES.to_vec()));
    // Days before Patch Tuesday: an "Early" document, not a bulletin yet.
    upstream.set(
        "/updates",
        Behavior::Ok(index(&[
            msrc_entry(
                "2024-Mar",
                "March 2024 Security Updates",
                "2024-03-12T07:00:00",
            ),
            msrc_entry(
                "2024-Apr",
                "April 2024 Early Security Updates",
                "2024-04-04T07:00:00",
            ),
        ])),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(
        dir.path(),
        &config(
            &upstream.url("/updates"),
            "",
            &upstream.url("/releases.csv"),
        ),
    );
    let db = dir.path().join("x.db");
    let exporter = Exporter::start(&[
        "--config.file",
        cfg.to_str().expect("utf-8"),
        "--storage.path",
        db.to_str().expect("utf-8"),
        "--debug.fixed-now",
        "2024-04-10T12:00:00Z",
    ]);
    exporter.wait_ready().await;
    let apr = [("source", "msrc"), ("bulletin", "2024-Apr")];
    let m = exporter.scrape().await;
    assert_eq!(
        value(&m, "patchlag_source_records", &[("source", "msrc")]),
        1.0
    );
    assert_eq!(
        sample(&m, "patchlag_bulletin_published_timestamp_seconds", &apr),
        None
    );

    // On Patch Tuesday it is retitled and re-dated: the clock starts at 10:00 PDT.
    upstream.set(
        "/updates",
        Behavior::Ok(index(&[
            msrc_entry(
                "2024-Mar",
                "March 2024 Security Updates",
                "2024-03-12T07:00:00",
            ),
            msrc_entry(
                "2024-Apr",
                "April 2024 Security Updates",
                "2024-04-09T07:00:00Z",
            ),
        ])),
    );
    let m = exporter
        .wait_for("April's bulletin", |t| {
            sample(t, "patchlag_bulletin_published_timestamp_seconds", &apr).is_some()
        })
        .await;
    assert_eq!(
        value(&m, "patchlag_bulletin_published_timestamp_seconds", &apr),
        1_712_682_000.0
    );
    assert_eq!(
        value(
            &m,
            "patchlag_bulletin_info",
            &[
                ("source", "msrc"),
                ("bulletin", "2024-Apr"),
                ("title", "April 2024 Security Updates")
            ]
        ),
        1.0
    );
    // A later revision changes the title: the newest data wins.
    upstream.set(
        "/updates",
        Behavior::Ok(index(&[msrc_entry(
            "2024-Apr",
            "April 2024 Security Updates (revised)",
            "2024-04-09T07:00:00Z",
        )])),
    );
    exporter
        .wait_for("the revised title", |t| {
            sample(
                t,
                "patchlag_bulletin_info",
                &[
                    ("source", "msrc"),
                    ("bulletin", "2024-Apr"),
                    ("title", "April 2024 Security Updates (revised)"),
                ],
            )
            .is_some()
        })
        .await;
    // March vanished from the index but keeps its history.
    let m = exporter.scrape().await;
    assert_eq!(
        value(&m, "patchlag_source_records", &[("source", "msrc")]),
        1.0
    );
    assert_eq!(
        value(
            &m,
            "patchlag_bulletin_published_timestamp_seconds",
            &[("source", "msrc"), ("bulletin", "2024-Mar")]
        ),
        1_710_262_800.0
    );
    // The index empties entirely: April stays too.
    upstream.set("/updates", Behavior::Ok(index(&[])));
    let m = exporter
        .wait_for("an empty index", |t| {
            sample(t, "patchlag_source_records", &[("source", "msrc")]) == Some(0.0)
        })
        .await;
    assert_eq!(
        value(&m, "patchlag_bulletin_published_timestamp_seconds", &apr),
        1_712_682_000.0
    );
}
