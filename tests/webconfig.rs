//! `--web.config.file` against the real binary: HTTPS with certificates made here, client
//! certificates, basic authentication on every endpoint, certificate rotation without a
//! restart, and start-up errors.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio::io::AsyncWriteExt;

/// A certificate authority for one test.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate and its key, PEM.
struct Leaf {
    cert: String,
    key: String,
    der: Vec<u8>,
}

impl Leaf {
    fn identity(&self) -> reqwest::Identity {
        reqwest::Identity::from_pem(format!("{}{}", self.cert, self.key).as_bytes())
            .expect("identity")
    }
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("CA certificate");
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    fn issue(&self, name: &str, usage: ExtendedKeyUsagePurpose) -> Leaf {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("certificate");
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    fn server(&self, name: &str) -> Leaf {
        self.issue(name, ExtendedKeyUsagePurpose::ServerAuth)
    }

    fn client(&self, name: &str) -> Leaf {
        self.issue(name, ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn certificate(&self) -> reqwest::Certificate {
        reqwest::Certificate::from_pem(self.pem.as_bytes()).expect("CA")
    }
}

/// Sources read from the core fixtures through `file://` URLs: nothing else to run.
fn exporter_config(dir: &Path) -> PathBuf {
    TestConfig::core_files().write(dir)
}

fn start(dir: &Path, web_config: &str, extra: &[&str]) -> Exporter {
    let config = exporter_config(dir);
    let web = dir.join("web.yml");
    std::fs::write(&web, web_config).expect("write web config");
    let db = dir.join("patchlag.db");
    let mut args = vec![
        "--config.file",
        config.to_str().expect("path"),
        "--storage.path",
        db.to_str().expect("path"),
        "--web.config.file",
        web.to_str().expect("path"),
    ];
    args.extend_from_slice(extra);
    Exporter::start(&args)
}

fn write_leaf(dir: &Path, leaf: &Leaf) {
    std::fs::write(dir.join("server.key"), &leaf.key).expect("write key");
    std::fs::write(dir.join("server.crt"), &leaf.cert).expect("write cert");
}

fn https_client(ca: &Ca, identity: Option<reqwest::Identity>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([ca.certificate()])
        .timeout(Duration::from_secs(10));
    if let Some(identity) = identity {
        builder = builder.identity(identity);
    }
    builder.build().expect("client")
}

async fn get(client: &reqwest::Client, url: &str) -> Result<(u16, String), reqwest::Error> {
    let r = client.get(url).send().await?;
    let status = r.status().as_u16();
    Ok((status, r.text().await?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_scrape_works_and_plain_http_does_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("test CA");
    write_leaf(dir.path(), &ca.server("exporter"));
    let exporter = start(
        dir.path(),
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
        &[],
    );
    let base = format!("https://{}", exporter.address);
    let client = https_client(&ca, None);
    let (status, body) = get(&client, &format!("{base}/metrics"))
        .await
        .expect("https scrape");
    assert_eq!(status, 200);
    assert!(body.contains("patchlag_build_info"), "{body}");
    for path in ["/-/healthy", "/", "/api/v1/status"] {
        let (status, _) = get(&client, &format!("{base}{path}")).await.expect(path);
        assert_eq!(status, 200, "{path}");
    }
    // By name as well as by address: the certificate carries both.
    let (status, _) = get(
        &client,
        &format!("https://localhost:{}/metrics", port(&exporter)),
    )
    .await
    .expect("by name");
    assert_eq!(status, 200);

    let plain = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    // Plain HTTP on the TLS port gets Go's answer, never the metrics.
    let (status, body) = get(&plain, &format!("http://{}/metrics", exporter.address))
        .await
        .expect("plain HTTP answered");
    assert_eq!(status, 400);
    assert_eq!(body, "Client sent an HTTP request to an HTTPS server.\n");
    // A client that does not trust the CA is refused.
    let untrusting = https_client(&Ca::new("another CA"), None);
    assert!(get(&untrusting, &format!("{base}/metrics")).await.is_err());
    // And the server still serves after all that.
    assert_eq!(
        get(&client, &format!("{base}/metrics"))
            .await
            .expect("scrape")
            .0,
        200
    );
}

fn port(exporter: &Exporter) -> &str {
    exporter.address.rsplit(':').next().expect("port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_signed_by_the_ca_are_required() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("test CA");
    write_leaf(dir.path(), &ca.server("exporter"));
    std::fs::write(dir.path().join("clients.crt"), &ca.pem).expect("write");
    let exporter = start(
        dir.path(),
        "tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: clients.crt
",
        &[],
    );
    let url = format!("https://{}/metrics", exporter.address);

    let anonymous = https_client(&ca, None);
    assert!(
        get(&anonymous, &url).await.is_err(),
        "served without a client certificate"
    );

    let stranger = Ca::new("stranger CA");
    let impostor = https_client(&ca, Some(stranger.client("impostor").identity()));
    assert!(
        get(&impostor, &url).await.is_err(),
        "served a certificate from another CA"
    );

    let prometheus = https_client(&ca, Some(ca.client("prometheus").identity()));
    let (status, body) = get(&prometheus, &url)
        .await
        .expect("scrape with a client certificate");
    assert_eq!(status, 200);
    assert!(body.contains("patchlag_build_info"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_client_certificates_are_checked_when_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("test CA");
    write_leaf(dir.path(), &ca.server("exporter"));
    std::fs::write(dir.path().join("clients.crt"), &ca.pem).expect("write");
    let exporter = start(
        dir.path(),
        "tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: VerifyClientCertIfGiven
  client_ca_file: clients.crt
",
        &[],
    );
    let url = format!("https://{}/metrics", exporter.address);
    assert_eq!(
        get(&https_client(&ca, None), &url)
            .await
            .expect("anonymous")
            .0,
        200
    );
    let good = https_client(&ca, Some(ca.client("prometheus").identity()));
    assert_eq!(get(&good, &url).await.expect("with certificate").0, 200);
    let impostor = https_client(&ca, Some(Ca::new("stranger").client("x").identity()));
    assert!(get(&impostor, &url).await.is_err());
}

/// The certificate a TLS server presents, read with rustls directly.
async fn presented_certificate(address: &str, ca: &Ca) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(pem_to_der(&ca.pem)))
        .expect("root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut tls = connector.connect(name, tcp).await.expect("handshake");
    let der = tls.get_ref().1.peer_certificates().expect("certificate")[0].to_vec();
    let _ = tls.shutdown().await;
    der
}

async fn assert_presents(exporter: &Exporter, ca: &Ca, leaf: &Leaf, name: &str) {
    assert!(
        presented_certificate(&exporter.address, ca).await == leaf.der,
        "the server does not present the {name} certificate"
    );
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .expect("pem")
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_certificate_files_are_served_without_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("test CA");
    let first = ca.server("first");
    write_leaf(dir.path(), &first);
    let exporter = start(
        dir.path(),
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
        &[],
    );
    assert_presents(&exporter, &ca, &first, "first").await;

    let second = ca.server("second");
    write_leaf(dir.path(), &second);
    assert_presents(&exporter, &ca, &second, "second").await;
    let client = https_client(&ca, None);
    let url = format!("https://{}/metrics", exporter.address);
    assert_eq!(get(&client, &url).await.expect("scrape").0, 200);

    // A broken rotation (the key is not a key) keeps the last good certificate, and says so.
    std::fs::write(dir.path().join("server.key"), "not a key\n").expect("write");
    assert_presents(&exporter, &ca, &second, "second").await;
    // The log line may reach the test's reader a moment after the handshake.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !exporter
        .logs()
        .iter()
        .any(|l| l.contains("keeping the previous certificate") && l.contains("key_file"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no log line about the broken key: {:?}",
            exporter.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Renamed into place, as certificate managers do.
    let third = ca.server("third");
    std::fs::write(dir.path().join("new.key"), &third.key).expect("write");
    std::fs::write(dir.path().join("new.crt"), &third.cert).expect("write");
    std::fs::rename(dir.path().join("new.key"), dir.path().join("server.key")).expect("mv");
    std::fs::rename(dir.path().join("new.crt"), dir.path().join("server.crt")).expect("mv");
    assert_presents(&exporter, &ca, &third, "third").await;
    assert_eq!(get(&client, &url).await.expect("scrape").0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_guards_every_endpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Cost 4 keeps the test fast; production hashes use 10 or more.
    let hash = bcrypt::hash("correct horse", 4).expect("hash");
    let exporter = start(
        dir.path(),
        &format!(
            "basic_auth_users:\n  prometheus: '{hash}'\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n"
        ),
        &[],
    );
    let client = reqwest::Client::new();
    let paths = [
        ("GET", "/metrics", 200),
        ("GET", "/", 200),
        ("GET", "/-/healthy", 200),
        ("GET", "/api/v1/status", 200),
        ("GET", "/no-such-page", 404),
        ("POST", "/-/reload", 200),
    ];
    let credentials: [(Option<(&str, &str)>, bool); 5] = [
        (None, false),
        (Some(("prometheus", "wrong")), false),
        (Some(("someone", "correct horse")), false),
        (Some(("Prometheus", "correct horse")), false),
        (Some(("prometheus", "correct horse")), true),
    ];
    for (method, path, ok_status) in paths {
        for (credentials, good) in credentials {
            let mut request = match method {
                "POST" => client.post(exporter.url(path)),
                _ => client.get(exporter.url(path)),
            };
            if let Some((user, password)) = credentials {
                request = request.basic_auth(user, Some(password));
            }
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            assert_eq!(
                response
                    .headers()
                    .get("x-frame-options")
                    .map(|v| v.as_bytes()),
                Some(&b"deny"[..]),
                "{method} {path}: configured headers on every answer"
            );
            if good {
                assert_eq!(status, ok_status, "{method} {path} with good credentials");
            } else {
                assert_eq!(status, 401, "{method} {path} with {credentials:?}");
                let challenge = response
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                assert!(challenge.starts_with("Basic "), "{challenge}");
                let body = response.text().await.expect("body");
                assert!(!body.contains("patchlag_"), "{body}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_tls_handshakes_are_cut_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("test CA");
    write_leaf(dir.path(), &ca.server("exporter"));
    let exporter = start(
        dir.path(),
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n",
        &["--web.read-header-timeout", "1s"],
    );
    // Connects and never says hello.
    let mut stream = std::net::TcpStream::connect(&exporter.address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let closed = matches!(stream.read(&mut buf), Ok(0) | Err(_));
    assert!(closed, "the server sent data to a silent client");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "a silent TLS client held its connection for {:?}",
        started.elapsed()
    );
    let client = https_client(&ca, None);
    let url = format!("https://{}/metrics", exporter.address);
    assert_eq!(get(&client, &url).await.expect("scrape").0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_client_ca_client_certificates_are_verified_against_the_system_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new("test CA");
    write_leaf(dir.path(), &ca.server("exporter"));
    // The system trust store, as OpenSSL and Go read it: SSL_CERT_FILE names the bundle.
    let bundle = dir.path().join("system-roots.pem");
    std::fs::write(&bundle, &ca.pem).expect("write");
    let config = exporter_config(dir.path());
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        "tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
",
    )
    .expect("write");
    let db = dir.path().join("patchlag.db");
    let exporter = Exporter::start_with_env(
        &[
            "--config.file",
            config.to_str().expect("path"),
            "--storage.path",
            db.to_str().expect("path"),
            "--web.config.file",
            web.to_str().expect("path"),
        ],
        &[("SSL_CERT_FILE", bundle.to_str().expect("path"))],
    );
    let url = format!("https://{}/metrics", exporter.address);
    let trusted = https_client(&ca, Some(ca.client("prometheus").identity()));
    assert_eq!(get(&trusted, &url).await.expect("trusted client").0, 200);
    let stranger = https_client(&ca, Some(Ca::new("stranger").client("x").identity()));
    assert!(get(&stranger, &url).await.is_err());
    assert!(get(&https_client(&ca, None), &url).await.is_err());
}

/// The value of a sample without labels, if present.
fn gauge(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_config_changes_apply_without_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = bcrypt::hash("alice-pw", 4).expect("hash");
    let bob = bcrypt::hash("bob-pw", 4).expect("hash");
    let exporter = start(
        dir.path(),
        &format!("basic_auth_users:\n  alice: '{alice}'\n"),
        &[],
    );
    let web = dir.path().join("web.yml");
    let client = reqwest::Client::new();
    let status = |user: &'static str, password: &'static str| {
        let request = client
            .get(exporter.url("/-/healthy"))
            .basic_auth(user, Some(password));
        async move { request.send().await.expect("request").status().as_u16() }
    };
    let scrape = || {
        let request = client
            .get(exporter.url("/metrics"))
            .basic_auth("alice", Some("alice-pw"));
        async move {
            request
                .send()
                .await
                .expect("scrape")
                .text()
                .await
                .expect("body")
        }
    };
    assert_eq!(status("alice", "alice-pw").await, 200);
    assert_eq!(status("bob", "bob-pw").await, 401);
    let metrics = scrape().await;
    assert_eq!(
        gauge(&metrics, "patchlag_web_config_last_reload_successful"),
        Some(1.0)
    );
    assert!(gauge(
        &metrics,
        "patchlag_web_config_last_reload_success_timestamp_seconds"
    )
    .is_some_and(|t| t > 1.7e9));
    if let Some(complaints) = promtool_check_metrics(&metrics) {
        assert_eq!(complaints, "", "promtool check metrics");
    }

    // A user and a header added: the next request sees them.
    let rewrite = |text: String| {
        let tmp = dir.path().join("web.yml.tmp");
        std::fs::write(&tmp, text).expect("write");
        std::fs::rename(&tmp, &web).expect("rename");
    };
    rewrite(format!(
        "basic_auth_users:\n  alice: '{alice}'\n  bob: '{bob}'\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n"
    ));
    assert_eq!(status("bob", "bob-pw").await, 200);
    let framed = client
        .get(exporter.url("/"))
        .basic_auth("bob", Some("bob-pw"))
        .send()
        .await
        .expect("request");
    assert_eq!(framed.headers()["x-frame-options"], "deny");

    // A change that does not validate keeps the previous settings, is logged once, and shows
    // in the metric.
    rewrite(format!(
        "basic_auth_users:\n  alice: '{alice}'\n  bob: not-a-hash\n"
    ));
    for _ in 0..3 {
        assert_eq!(status("bob", "bob-pw").await, 200);
    }
    let metrics = scrape().await;
    assert_eq!(
        gauge(&metrics, "patchlag_web_config_last_reload_successful"),
        Some(0.0)
    );
    let failures: Vec<String> = exporter
        .logs()
        .into_iter()
        .filter(|l| l.contains("web configuration reload failed"))
        .collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0].contains("basic_auth_users.bob: not a bcrypt hash"),
        "{failures:?}"
    );
    assert!(
        !failures[0].contains("not-a-hash"),
        "the value is never shown"
    );

    // Fixed: bob is gone, as the file says.
    rewrite(format!("basic_auth_users:\n  alice: '{alice}'\n"));
    assert_eq!(status("bob", "bob-pw").await, 401);
    assert_eq!(
        gauge(
            &scrape().await,
            "patchlag_web_config_last_reload_successful"
        ),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_answers_429_on_every_path_beyond_the_burst() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = start(
        dir.path(),
        "rate_limit:\n  interval: 1h\n  burst: 3\nhttp_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n",
        &[],
    );
    let client = reqwest::Client::new();
    let get = |path: &str| {
        let request = client.get(exporter.url(path));
        async move { request.send().await.expect("request") }
    };
    assert_eq!(get("/metrics").await.status().as_u16(), 200);
    assert_eq!(get("/-/healthy").await.status().as_u16(), 200);
    assert_eq!(get("/no-such-page").await.status().as_u16(), 404);
    for path in [
        "/metrics",
        "/-/healthy",
        "/",
        "/api/v1/status",
        "/no-such-page",
    ] {
        let refused = get(path).await;
        assert_eq!(refused.status().as_u16(), 429, "{path}");
        assert_eq!(refused.headers()["x-content-type-options"], "nosniff");
        assert_eq!(refused.text().await.expect("body"), "Too Many Requests\n");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_web_config_there_are_no_web_config_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = exporter_config(dir.path());
    let db = dir.path().join("patchlag.db");
    let exporter = Exporter::start(&[
        "--config.file",
        config.to_str().expect("path"),
        "--storage.path",
        db.to_str().expect("path"),
    ]);
    let metrics = exporter.scrape().await;
    assert!(metrics.contains("patchlag_config_last_reload_successful 1"));
    assert!(!metrics.contains("patchlag_web_config"), "{metrics}");
}

/// Runs the binary to completion; returns its exit code and stderr.
fn run_to_exit(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .args(["--web.listen-address", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout),
    )
}

#[test]
fn a_bad_web_config_is_exit_1_with_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = exporter_config(dir.path());
    let config = config.to_str().expect("path");
    let web = dir.path().join("web.yml");
    let web_arg = web.to_str().expect("path");
    let cases = [
        (
            "basic_auth_users:\n  alice: hunter2\n".to_string(),
            format!("{web_arg}:2:10: basic_auth_users.alice: not a bcrypt hash"),
        ),
        (
            "tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n".to_string(),
            format!("{web_arg}:2:14: tls_server_config.cert_file: cannot read"),
        ),
        (
            "tls_server_config:\n  certfile: server.crt\n".to_string(),
            format!("{web_arg}:2:3: tls_server_config.certfile: unknown field `certfile`"),
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(&web, &text).expect("write");
        let (code, output) = run_to_exit(&["--config.file", config, "--web.config.file", web_arg]);
        assert_eq!(code, Some(1), "{output}");
        // Said once, as a log line.
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(lines.len(), 1, "{output}");
        assert!(
            lines[0].contains(&format!(
                r#" level=error msg="invalid web configuration" error="{expected}"#
            )),
            "{output}"
        );
        assert!(
            !output.contains("hunter2"),
            "a value that may be a password is shown: {output}"
        );
        // The same check without starting anything.
        let (code, output) = run_to_exit(&[
            "--config.file",
            config,
            "--web.config.file",
            web_arg,
            "--config.check",
        ]);
        assert_eq!(code, Some(1), "{output}");
        assert!(output.contains(&format!("FAILED: {expected}")), "{output}");
    }
    let (code, output) = run_to_exit(&[
        "--config.file",
        config,
        "--web.config.file",
        dir.path().join("absent.yml").to_str().expect("path"),
    ]);
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("cannot read web configuration"), "{output}");

    std::fs::write(&web, "basic_auth_users: {}\n").expect("write");
    let (code, output) = run_to_exit(&[
        "--config.file",
        config,
        "--web.config.file",
        web_arg,
        "--config.check",
    ]);
    assert_eq!(code, Some(0), "{output}");
    assert!(
        output.contains(&format!("SUCCESS: {web_arg} is valid")),
        "{output}"
    );
}
