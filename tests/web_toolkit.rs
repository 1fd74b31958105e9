//! exporter-toolkit's own test suite for the web configuration, case by case, against the real
//! binary: `TestYAMLFiles`, `TestServerBehaviour`, `TestConfigReloading` and `TestUsers` of
//! prometheus/exporter-toolkit `web/tls_config_test.go`, with the configurations of its
//! `web/testdata/` (rewritten under `tests/fixtures/web/`, see the README there) and
//! certificates shaped like its own, made here.
//!
//! Every case states the reference's outcome; the test checks that ours is the same, except
//! where a case names the rustls limit that makes it differ (documented in docs/security.md).
//! Run with `--nocapture` to see the table.

mod common;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::crypto::{ring as ring_provider, SupportedKxGroup};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::SupportedCipherSuite;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/web").join(name)
}

// ---------------------------------------------------------------------------------------------
// Certificates shaped like the reference's testdata
// ---------------------------------------------------------------------------------------------

/// The files a case directory holds, as in exporter-toolkit's `web/testdata/`:
///
/// - `server.crt`: RSA, `CN=localhost`, SANs `localhost`, `127.0.0.1`, `127.0.0.0`, server and
///   client authentication, issued by an intermediate "Prometheus TLS CA" under a root;
///   `server.key` is the fixture's RSA key (ring cannot generate RSA keys);
/// - `tls-ca-chain.pem`: the intermediate and the root, what the test clients trust;
/// - `client_selfsigned.pem`/`.key`: P-384, self-signed, `CA:TRUE`, `CN=test`, client
///   authentication, no SAN;
/// - `client2_selfsigned.pem`/`.key`: the same with `CN=test3` and SAN `DNS:test3`.
struct Certificates {
    server_crt: String,
    server_key: String,
    ca_chain: String,
    client: (String, String),
    client2: (String, String),
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CountryName, "US");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Prometheus");
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
    ];
    params
}

fn self_signed_client(name: &str, san: Option<&str>) -> (String, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    if let Some(san) = san {
        params
            .subject_alt_names
            .push(SanType::DnsName(san.try_into().expect("dns name")));
    }
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).expect("key");
    let cert = params.self_signed(&key).expect("certificate");
    (cert.pem(), key.serialize_pem())
}

impl Certificates {
    fn new() -> Certificates {
        let root_key = KeyPair::generate().expect("key");
        let root_params = ca_params("Prometheus Root CA");
        let root = root_params.self_signed(&root_key).expect("root");
        let root_issuer = Issuer::new(root_params, root_key);
        let tls_ca_key = KeyPair::generate().expect("key");
        let tls_ca_params = ca_params("Prometheus TLS CA");
        let tls_ca = tls_ca_params
            .signed_by(&tls_ca_key, &root_issuer)
            .expect("intermediate");
        let tls_ca_issuer = Issuer::new(tls_ca_params, tls_ca_key);

        let server_key = std::fs::read_to_string(fixture("server.key")).expect("server key");
        let leaf_key = KeyPair::from_pem(&server_key).expect("RSA key");
        let mut params = CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "127.0.0.0".to_string(),
        ])
        .expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::ServerAuth,
        ];
        let server = params
            .signed_by(&leaf_key, &tls_ca_issuer)
            .expect("server certificate");
        Certificates {
            server_crt: server.pem(),
            server_key,
            ca_chain: format!("{}{}", tls_ca.pem(), root.pem()),
            client: self_signed_client("test", None),
            client2: self_signed_client("test3", Some("test3")),
        }
    }

    /// Writes the certificate files into `dir`.
    fn write_files(&self, dir: &Path) {
        let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).expect("write");
        write("server.crt", &self.server_crt);
        write("server.key", &self.server_key);
        write("tls-ca-chain.pem", &self.ca_chain);
        write("client_selfsigned.pem", &self.client.0);
        write("client_selfsigned.key", &self.client.1);
        write("client2_selfsigned.pem", &self.client2.0);
        write("client2_selfsigned.key", &self.client2.1);
    }

    /// Writes the certificate files, and `file` with any `{{server.crt}}`/`{{server.key}}`
    /// replaced by the PEM text indented for a YAML block scalar, into `dir`; returns the web
    /// configuration's path.
    fn case_dir(&self, dir: &Path, file: &str) -> PathBuf {
        self.write_files(dir);
        let indent = |pem: &str| {
            pem.lines()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let path = dir.join(file);
        let Ok(text) = std::fs::read_to_string(fixture(file)) else {
            // The reference's "somefile": a path to nothing.
            return path;
        };
        let text = text
            .replace("{{server.crt}}", &indent(&self.server_crt))
            .replace("{{server.key}}", &indent(&self.server_key));
        std::fs::write(&path, text).expect("write");
        path
    }
}

// ---------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------

fn suite(name: &str) -> SupportedCipherSuite {
    *ring_provider::ALL_CIPHER_SUITES
        .iter()
        .find(|s| s.suite().as_str() == Some(name))
        .expect("a rustls suite")
}

/// A TLS client set up as the reference test's Go client is: it trusts `tls-ca-chain.pem`, and
/// the test may narrow its versions (`ClientMaxTLSVersion`), TLS 1.2 suites (`CipherSuites`:
/// Go's client still offers TLS 1.3 with its own suites), curves (`CurvePreferences`) and give
/// it a client certificate.
#[derive(Clone, Default)]
struct TlsClient {
    tls12_only: bool,
    tls13_only: bool,
    tls12_suites: Option<Vec<&'static str>>,
    curves: Option<Vec<&'static dyn SupportedKxGroup>>,
    certificate: Option<&'static str>,
}

#[derive(Clone, Copy)]
enum Client {
    /// Go's `http.DefaultClient`: plain HTTP.
    Plain,
    Tls(&'static TlsClientRef),
    /// A hand-made ClientHello, for what rustls cannot send: TLS 1.1, CBC suites.
    RawHello(RawHello),
}

/// `TlsClient` behind a function, so that cases can be constants.
struct TlsClientRef(fn() -> TlsClient);

#[derive(Clone, Copy)]
struct RawHello {
    legacy_version: u16,
    suites: &'static [u16],
}

/// What a request got.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    /// An HTTP answer: status, body, and over TLS the version and suite negotiated.
    Answer {
        status: u16,
        body: String,
        tls: Option<(String, String)>,
    },
    /// The connection failed (TLS handshake, refused certificate, bytes that are not HTTP).
    Failed(String),
    /// The server answered a hand-made ClientHello with this alert.
    Alert(u8),
    /// The server answered a hand-made ClientHello with a ServerHello for this suite.
    ServerHello(u16),
}

async fn tls_request(
    address: &str,
    dir: &Path,
    client: &TlsClient,
    path: &str,
    credentials: Option<(&str, &str)>,
) -> Got {
    match try_tls_request(address, dir, client, path, credentials).await {
        Ok(got) => got,
        Err(e) => Got::Failed(e),
    }
}

async fn try_tls_request(
    address: &str,
    dir: &Path,
    client: &TlsClient,
    path: &str,
    credentials: Option<(&str, &str)>,
) -> Result<Got, String> {
    let mut roots = rustls::RootCertStore::empty();
    let chain = std::fs::read(dir.join("tls-ca-chain.pem")).expect("chain");
    for cert in CertificateDer::pem_slice_iter(&chain) {
        roots.add(cert.expect("pem")).expect("root");
    }
    let mut provider = ring_provider::default_provider();
    if let Some(names) = &client.tls12_suites {
        provider.cipher_suites = ring_provider::ALL_CIPHER_SUITES
            .iter()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
            .copied()
            .chain(names.iter().map(|n| suite(n)))
            .collect();
    }
    if let Some(curves) = &client.curves {
        provider.kx_groups = curves.clone();
    }
    let versions: &[&rustls::SupportedProtocolVersion] = if client.tls12_only {
        &[&rustls::version::TLS12]
    } else if client.tls13_only {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots);
    let config = match client.certificate {
        None => builder.with_no_client_auth(),
        Some(name) => {
            let cert = std::fs::read(dir.join(format!("{name}.pem"))).expect("cert");
            let key = std::fs::read(dir.join(format!("{name}.key"))).expect("key");
            builder
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_slice(&cert).expect("pem")],
                    PrivateKeyDer::from_pem_slice(&key).expect("key"),
                )
                .expect("client certificate")
        }
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(address)
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").expect("name");
    let mut tls = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp))
        .await
        .map_err(|_| "handshake timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let (_, connection) = tls.get_ref();
    let negotiated = (
        format!("{:?}", connection.protocol_version().expect("version")),
        connection
            .negotiated_cipher_suite()
            .and_then(|s| s.suite().as_str())
            .unwrap_or("?")
            .to_string(),
    );
    let auth = credentials.map_or(String::new(), |(user, password)| {
        use base64::Engine;
        format!(
            "Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    });
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n");
    tls.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    // A certificate refused under TLS 1.3 shows here: the client's side of the handshake
    // completes before the server has looked at the certificate.
    let read = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut answer)).await;
    match read {
        Err(_) => return Err("answer timed out".to_string()),
        Ok(Err(e)) if answer.is_empty() => return Err(e.to_string()),
        Ok(_) => {}
    }
    let (status, body) = parse_answer(&answer)?;
    Ok(Got::Answer {
        status,
        body,
        tls: Some(negotiated),
    })
}

fn parse_answer(answer: &[u8]) -> Result<(u16, String), String> {
    let text = String::from_utf8_lossy(answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("not an HTTP answer: {text:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status in {head:?}"))?;
    Ok((status, body.to_string()))
}

async fn plain_request(address: &str, path: &str, credentials: Option<(&str, &str)>) -> Got {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut request = client.get(format!("http://{address}{path}"));
    if let Some((user, password)) = credentials {
        request = request.basic_auth(user, Some(password));
    }
    match request.send().await {
        Err(e) => Got::Failed(e.to_string()),
        Ok(r) => {
            let status = r.status().as_u16();
            Got::Answer {
                status,
                body: r.text().await.unwrap_or_default(),
                tls: None,
            }
        }
    }
}

/// A TLS 1.2 (or older) ClientHello offering `suites` with ECDHE over X25519, P-256 and P-384.
fn client_hello(hello: RawHello) -> Vec<u8> {
    fn u16s(values: &[u16]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_be_bytes()).collect()
    }
    fn with_len16(body: &[u8]) -> Vec<u8> {
        let mut out = (body.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }
    fn extension(kind: u16, body: &[u8]) -> Vec<u8> {
        let mut out = kind.to_be_bytes().to_vec();
        out.extend(with_len16(body));
        out
    }
    let mut server_name = vec![0u8];
    server_name.extend(with_len16(b"localhost"));
    let mut extensions = Vec::new();
    extensions.extend(extension(0, &with_len16(&server_name)));
    extensions.extend(extension(10, &with_len16(&u16s(&[0x001d, 0x0017, 0x0018]))));
    extensions.extend(extension(11, &[1, 0]));
    extensions.extend(extension(
        13,
        &with_len16(&u16s(&[0x0804, 0x0401, 0x0403, 0x0805, 0x0501, 0x0503])),
    ));
    extensions.extend(extension(23, &[]));
    let mut body = hello.legacy_version.to_be_bytes().to_vec();
    body.extend([7u8; 32]);
    body.push(0);
    body.extend(with_len16(&u16s(hello.suites)));
    body.extend([1, 0]);
    body.extend(with_len16(&extensions));
    let mut handshake = vec![1u8];
    handshake.extend(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend(body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend(with_len16(&handshake));
    record
}

async fn raw_hello(address: &str, hello: RawHello) -> Got {
    let attempt = async {
        let mut tcp = tokio::net::TcpStream::connect(address).await?;
        tcp.write_all(&client_hello(hello)).await?;
        let mut header = [0u8; 5];
        tcp.read_exact(&mut header).await?;
        let mut body = vec![0u8; u16::from_be_bytes([header[3], header[4]]) as usize];
        tcp.read_exact(&mut body).await?;
        Ok::<_, std::io::Error>(match header[0] {
            21 => Got::Alert(body[1]),
            // ServerHello: type, length (3), version (2), random (32), session id, suite.
            22 if body.first() == Some(&2) => {
                let session = 4 + 2 + 32;
                let at = session + 1 + body[session] as usize;
                Got::ServerHello(u16::from_be_bytes([body[at], body[at + 1]]))
            }
            other => Got::Failed(format!("record type {other}")),
        })
    };
    match tokio::time::timeout(Duration::from_secs(10), attempt).await {
        Ok(Ok(got)) => got,
        Ok(Err(e)) => Got::Failed(e.to_string()),
        Err(_) => Got::Failed("timed out".to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Running the exporter
// ---------------------------------------------------------------------------------------------

/// Sources read from the core fixtures through `file://` URLs: nothing else to run.
fn exporter_config(dir: &Path) -> PathBuf {
    TestConfig::core_files().write(dir)
}

enum Started {
    Running(Exporter),
    /// Exit code and output of a start that failed, and of `--config.check`.
    Refused {
        code: Option<i32>,
        output: String,
        check_code: Option<i32>,
        check_output: String,
    },
}

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

/// Starts the exporter with `web` (a path in `dir`, or none). A configuration it refuses makes
/// it exit 1 at once; `--config.check` says the same without starting.
fn start(dir: &Path, web: Option<&Path>) -> Started {
    let config = exporter_config(dir);
    let db = dir.join("patchlag.db");
    let mut args = vec![
        "--config.file".to_string(),
        config.display().to_string(),
        "--storage.path".to_string(),
        db.display().to_string(),
    ];
    if let Some(web) = web {
        args.push("--web.config.file".to_string());
        args.push(web.display().to_string());
        let mut check: Vec<&str> = args.iter().map(String::as_str).collect();
        check.push("--config.check");
        let (check_code, check_output) = run_to_exit(&check);
        if check_code != Some(0) {
            let started: Vec<&str> = args.iter().map(String::as_str).collect();
            let (code, output) = run_to_exit(&started);
            return Started::Refused {
                code,
                output,
                check_code,
                check_output,
            };
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Started::Running(Exporter::start(&args))
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

/// An outcome, as the reference's test states it and as ours is checked.
#[derive(Clone, Copy)]
enum Outcome {
    /// The configuration is refused at start (and by validation), with an error containing this.
    Refused(&'static str),
    /// Every request is answered 200.
    Served,
    /// Served over this TLS version and suite.
    ServedWith(&'static str, &'static str),
    /// Answered with this status and a body containing this text.
    Status(u16, &'static str),
    /// The connection fails: the TLS handshake or the client certificate is refused.
    ConnectionFails,
    /// A hand-made ClientHello is answered with this TLS alert.
    Alert(u8, &'static str),
    /// A hand-made ClientHello is answered with a ServerHello choosing this suite.
    Hello(u16, &'static str),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Refused(_) => write!(f, "refused at start"),
            Outcome::Served => write!(f, "served"),
            Outcome::ServedWith(version, suite) => write!(f, "served over {version}, {suite}"),
            Outcome::Status(status, _) => write!(f, "answered {status}"),
            Outcome::ConnectionFails => write!(f, "connection refused (TLS)"),
            Outcome::Alert(_, name) => write!(f, "handshake fails: alert {name}"),
            Outcome::Hello(_, name) => write!(f, "ServerHello with {name}"),
        }
    }
}

struct Case {
    /// The reference's test case name.
    name: &'static str,
    /// Under `tests/fixtures/web/`; `None`: no `--web.config.file` (the reference's `""`).
    file: Option<&'static str>,
    client: Client,
    credentials: Option<(&'static str, &'static str)>,
    /// Requests sent (the reference's `Requests`, plus one).
    requests: usize,
    reference: Outcome,
    /// Where ours differs: what it does, and the rustls limit that makes it so.
    limit: Option<(Outcome, &'static str)>,
}

const fn case(name: &'static str, file: Option<&'static str>, reference: Outcome) -> Case {
    Case {
        name,
        file,
        client: Client::Plain,
        credentials: None,
        requests: 1,
        reference,
        limit: None,
    }
}

impl Case {
    const fn tls(mut self, client: &'static TlsClientRef) -> Case {
        self.client = Client::Tls(client);
        self
    }

    const fn raw(mut self, hello: RawHello) -> Case {
        self.client = Client::RawHello(hello);
        self
    }

    const fn user(mut self, user: &'static str, password: &'static str) -> Case {
        self.credentials = Some((user, password));
        self
    }

    const fn requests(mut self, n: usize) -> Case {
        self.requests = n;
        self
    }

    const fn differs(mut self, ours: Outcome, why: &'static str) -> Case {
        self.limit = Some((ours, why));
        self
    }
}

static DEFAULT_TLS: TlsClientRef = TlsClientRef(TlsClient::default);
static TLS13_ONLY: TlsClientRef = TlsClientRef(|| TlsClient {
    tls13_only: true,
    ..TlsClient::default()
});
static AES128_ONLY: TlsClientRef = TlsClientRef(|| TlsClient {
    tls12_suites: Some(vec!["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]),
    ..TlsClient::default()
});
static AES128_THEN_256: TlsClientRef = TlsClientRef(|| TlsClient {
    tls12_suites: Some(vec![
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ]),
    ..TlsClient::default()
});
static P384_ONLY: TlsClientRef = TlsClientRef(|| TlsClient {
    curves: Some(vec![ring_provider::kx_group::SECP384R1]),
    ..TlsClient::default()
});
static CLIENT_SELFSIGNED: TlsClientRef = TlsClientRef(|| TlsClient {
    certificate: Some("client_selfsigned"),
    ..TlsClient::default()
});
static CLIENT2_SELFSIGNED: TlsClientRef = TlsClientRef(|| TlsClient {
    certificate: Some("client2_selfsigned"),
    ..TlsClient::default()
});

/// TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 and TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384.
const GCM_SUITES: &[u16] = &[0xc02f, 0xc030];
/// TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA.
const CBC_SUITE: &[u16] = &[0xc014];
const HANDSHAKE_FAILURE: u8 = 40;
const PROTOCOL_VERSION: u8 = 70;

async fn run_case(certs: &Certificates, case: &Case) -> Result<String, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    certs.write_files(dir.path());
    let web = case.file.map(|f| certs.case_dir(dir.path(), f));
    let expected = case.limit.map_or(case.reference, |(ours, _)| ours);
    let exporter = match start(dir.path(), web.as_deref()) {
        Started::Refused {
            code,
            output,
            check_code,
            check_output,
        } => {
            let Outcome::Refused(message) = expected else {
                return Err(format!("refused at start: {output}"));
            };
            if code != Some(1) || check_code != Some(1) {
                return Err(format!("exit codes {code:?} and {check_code:?}: {output}"));
            }
            if !output.contains(message) || !check_output.contains(message) {
                return Err(format!("no {message:?} in: {output} / {check_output}"));
            }
            return Ok(format!("refused at start: {}", first_error(&output)));
        }
        Started::Running(exporter) => exporter,
    };
    if let Outcome::Refused(_) = expected {
        return Err("started".to_string());
    }
    let mut last = None;
    for _ in 0..case.requests {
        let got = match case.client {
            Client::Plain => plain_request(&exporter.address, "/-/healthy", case.credentials).await,
            Client::Tls(client) => {
                tls_request(
                    &exporter.address,
                    dir.path(),
                    &(client.0)(),
                    "/-/healthy",
                    case.credentials,
                )
                .await
            }
            Client::RawHello(hello) => raw_hello(&exporter.address, hello).await,
        };
        let ok = match (expected, &got) {
            (Outcome::Served, Got::Answer { status, .. }) => *status == 200,
            (Outcome::ServedWith(version, suite), Got::Answer { status, tls, .. }) => {
                *status == 200 && tls.as_ref() == Some(&(version.to_string(), suite.to_string()))
            }
            (Outcome::Status(code, text), Got::Answer { status, body, .. }) => {
                *status == code && body.contains(text)
            }
            (Outcome::ConnectionFails, Got::Failed(_)) => true,
            (Outcome::Alert(alert, _), Got::Alert(got)) => alert == *got,
            (Outcome::Hello(suite, _), Got::ServerHello(got)) => suite == *got,
            _ => false,
        };
        if !ok {
            return Err(format!("got {got:?}; logs: {:?}", exporter.logs()));
        }
        last = Some(got);
    }
    Ok(describe(last.as_ref()))
}

fn first_error(output: &str) -> String {
    output
        .lines()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or(output)
        .split_once(": ")
        .map_or(output.to_string(), |(_, rest)| rest.to_string())
}

fn describe(got: Option<&Got>) -> String {
    match got {
        Some(Got::Answer {
            status,
            tls: Some((version, suite)),
            ..
        }) => format!("{status} over {version}, {suite}"),
        Some(Got::Answer { status, .. }) => format!("{status}"),
        Some(Got::Failed(e)) => format!("fails: {e}"),
        Some(Got::Alert(a)) => format!("alert {a}"),
        Some(Got::ServerHello(s)) => format!("ServerHello {s:#06x}"),
        None => String::new(),
    }
}

async fn run_table(table: &str, cases: &[Case]) {
    patchlag_exporter::install_crypto_provider();
    let certs = Certificates::new();
    let mut failures = Vec::new();
    println!("\n{table}\n| toolkit case | reference | ours |\n|---|---|---|");
    for case in cases {
        let result = run_case(&certs, case).await;
        let ours = match (&result, case.limit) {
            (Ok(_), None) => "same".to_string(),
            (Ok(_), Some((ours, why))) => format!("{ours} ({why})"),
            (Err(e), _) => format!("DIFFERENT: {e}"),
        };
        println!("| {} | {} | {} |", case.name, case.reference, ours);
        if let Err(e) = result {
            failures.push(format!("{}: {e}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `TestYAMLFiles`: each file run and validated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toolkit_yaml_files() {
    use Outcome::*;
    let cases = [
        case(
            "path to config yml invalid",
            Some("somefile"),
            Refused("No such file"),
        ),
        case("empty config yml", Some("web_config_empty.yml"), Served),
        case(
            "invalid config yml (invalid structure)",
            Some("web_config_junk.yml"),
            Refused("web_config_junk.yml:1:1: expected mapping start"),
        ),
        case(
            "invalid config yml (invalid key)",
            Some("web_config_junk_key.yml"),
            Refused("unknown field `cert_filse`"),
        ),
        case(
            "invalid config yml (cert path empty)",
            Some("web_config_noAuth_certPath_empty.bad.yml"),
            Refused("tls_server_config.cert_file: must not be empty"),
        ),
        case(
            "invalid config yml (cert empty)",
            Some("web_config_noAuth_cert_empty.bad.yml"),
            Refused("tls_server_config.cert: no PEM certificate found"),
        ),
        case(
            "invalid config yml (key path empty)",
            Some("web_config_noAuth_keyPath_empty.bad.yml"),
            Refused("tls_server_config.key_file: must not be empty"),
        ),
        case(
            "invalid config yml (key empty)",
            Some("web_config_noAuth_key_empty.bad.yml"),
            Refused("tls_server_config.key: no PEM private key found"),
        ),
        case(
            "invalid config yml (cert path and key path empty)",
            Some("web_config_noAuth_certPath_keyPath_empty.bad.yml"),
            Refused("tls_server_config.cert_file: must not be empty"),
        ),
        case(
            "invalid config yml (cert path invalid)",
            Some("web_config_noAuth_certPath_invalid.bad.yml"),
            Refused("No such file"),
        ),
        case(
            "invalid config yml (key path invalid)",
            Some("web_config_noAuth_keyPath_invalid.bad.yml"),
            Refused("No such file"),
        ),
        case(
            "invalid config yml (cert path and key path invalid)",
            Some("web_config_noAuth_certPath_keyPath_invalid.bad.yml"),
            Refused("No such file"),
        ),
        case(
            "invalid config yml (invalid ClientAuth)",
            Some("web_config_noAuth.bad.yml"),
            Refused("a client CA is set but client_auth_type is NoClientCert"),
        ),
        case(
            "invalid config yml (invalid ClientCAs filepath)",
            Some("web_config_auth_clientCAs_invalid.bad.yml"),
            Refused("a client CA is set but client_auth_type is NoClientCert"),
        ),
        case(
            "invalid config yml (invalid user list)",
            Some("web_config_auth_user_list_invalid.bad.yml"),
            Refused("basic_auth_users.john: not a bcrypt hash"),
        ),
        case(
            "invalid config yml (bad cipher)",
            Some("web_config_noAuth_inventedCiphers.bad.yml"),
            Refused("unknown cipher suite"),
        ),
        case(
            "invalid config yml (bad curves)",
            Some("web_config_noAuth_inventedCurves.bad.yml"),
            Refused("unknown curve"),
        ),
        case(
            "invalid config yml (bad TLS version)",
            Some("web_config_noAuth_wrongTLSVersion.bad.yml"),
            Refused("unknown TLS version"),
        ),
    ];
    run_table("TestYAMLFiles", &cases).await;
}

/// `TestServerBehaviour`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toolkit_server_behaviour() {
    use Outcome::*;
    let cases = [
        case("empty string YAMLConfigPath and default client", None, Served),
        case("empty string YAMLConfigPath and TLS client", None, ConnectionFails)
            .tls(&DEFAULT_TLS),
        case(
            "valid tls config yml and default client",
            Some("web_config_noAuth.good.yml"),
            Status(400, "Client sent an HTTP request to an HTTPS server.\n"),
        ),
        case(
            "valid tls config yml and tls client",
            Some("web_config_noAuth.good.yml"),
            Served,
        )
        .tls(&DEFAULT_TLS),
        case(
            "valid tls config yml (cert and key inline) and tls client",
            Some("web_config_noAuth_tlsInline.good.yml"),
            Served,
        )
        .tls(&DEFAULT_TLS),
        case(
            "valid tls config yml with TLS 1.1 client",
            Some("web_config_noAuth.good.yml"),
            Alert(PROTOCOL_VERSION, "protocol_version"),
        )
        .raw(RawHello {
            legacy_version: 0x0302,
            suites: GCM_SUITES,
        }),
        case(
            "valid tls config yml with all ciphers",
            Some("web_config_noAuth_allCiphers.good.yml"),
            Served,
        )
        .tls(&DEFAULT_TLS),
        case(
            "valid tls config yml with some ciphers",
            Some("web_config_noAuth_someCiphers.good.yml"),
            ServedWith("TLSv1_2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
        )
        .tls(&AES128_ONLY),
        case(
            "valid tls config yml with no common cipher",
            Some("web_config_noAuth_someCiphers.good.yml"),
            Alert(HANDSHAKE_FAILURE, "handshake_failure"),
        )
        .raw(RawHello {
            legacy_version: 0x0303,
            suites: CBC_SUITE,
        }),
        case(
            "valid tls config yml with multiple client ciphers",
            Some("web_config_noAuth_someCiphers.good.yml"),
            ServedWith("TLSv1_2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
        )
        .tls(&AES128_THEN_256),
        case(
            "valid tls config yml with multiple client ciphers, client chooses cipher",
            Some("web_config_noAuth_someCiphers_noOrder.good.yml"),
            ServedWith("TLSv1_2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
        )
        .tls(&AES128_THEN_256),
        case(
            "valid tls config yml with all curves",
            Some("web_config_noAuth_allCurves.good.yml"),
            Served,
        )
        .tls(&DEFAULT_TLS),
        case(
            "valid tls config yml with some curves",
            Some("web_config_noAuth_someCurves.good.yml"),
            Served,
        )
        .differs(
            Refused("CurveP521 not implemented by rustls with the ring provider"),
            "no P-521 in rustls with ring",
        ),
        case(
            "valid tls config yml with no common curves",
            Some("web_config_noAuth_someCurves.good.yml"),
            ConnectionFails,
        )
        .tls(&P384_ONLY)
        .differs(
            Refused("CurveP521 not implemented by rustls with the ring provider"),
            "no P-521 in rustls with ring",
        ),
        case(
            "valid tls config yml with non-http2 ciphers",
            Some("web_config_noAuth_noHTTP2.good.yml"),
            ServedWith("TLSv1_2", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
        )
        .tls(&DEFAULT_TLS),
        case(
            "valid tls config yml with non-http2 ciphers but http2 enabled",
            Some("web_config_noAuth_noHTTP2Cipher.bad.yml"),
            Refused("missing an HTTP/2-required AES_128_GCM_SHA256 cipher"),
        )
        .tls(&DEFAULT_TLS),
        case("valid headers config", Some("web_config_headers.good.yml"), Served),
        case(
            "invalid X-Content-Type-Options headers config",
            Some("web_config_headers_content_type_options.bad.yml"),
            Refused("X-Content-Type-Options: must be one of nosniff"),
        ),
        case(
            "invalid X-Frame-Options headers config",
            Some("web_config_headers_frame_options.bad.yml"),
            Refused("X-Frame-Options: must be one of deny, sameorigin"),
        ),
        case(
            "HTTP header that can not be overridden",
            Some("web_config_headers_extra_header.bad.yml"),
            Refused("Content-Type: this header cannot be configured"),
        ),
        case(
            "valid tls config yml and tls client with RequireAnyClientCert (present certificate)",
            Some("tls_config_noAuth.requireanyclientcert.good.yml"),
            Served,
        )
        .tls(&CLIENT_SELFSIGNED),
        case(
            "valid tls config yml (cert from file, key inline) and tls client with RequireAnyClientCert (present certificate)",
            Some("tls_config_noAuth.requireanyclientcertkeyinline.good.yml"),
            Served,
        )
        .tls(&CLIENT_SELFSIGNED),
        case(
            "valid tls config yml and tls client with RequireAndVerifyClientCert (present certificate)",
            Some("tls_config_noAuth.requireandverifyclientcert.good.yml"),
            Served,
        )
        .tls(&CLIENT_SELFSIGNED),
        case(
            "valid tls config yml and tls client with VerifyPeerCertificate (present good SAN DNS entry)",
            Some("web_config_auth_client_san.good.yaml"),
            Served,
        )
        .tls(&CLIENT2_SELFSIGNED),
        case(
            "valid tls config yml and tls client with VerifyPeerCertificate (present invalid SAN DNS entries)",
            Some("web_config_auth_client_san.bad.yaml"),
            ConnectionFails,
        )
        .tls(&CLIENT2_SELFSIGNED),
        case(
            "valid rate limiter (no rate limiter set up) that doesn't block",
            Some("web_config_rate_limiter_nonblocking.yaml"),
            Served,
        )
        .requests(11),
        case(
            "valid rate limiter with an interval of one second",
            Some("web_config_rate_limiter_one_second.yaml"),
            Status(429, "Too Many Requests"),
        )
        .requests(11),
    ];
    run_table("TestServerBehaviour", &cases).await;
}

/// Cases of ours around the reference's, for what it does not ask: `max_version` refusing a
/// TLS 1.3-only client, and client certificates the verifying types refuse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn around_the_toolkit_cases() {
    use Outcome::*;
    let cases = [
        case(
            "max_version: TLS12 and a TLS 1.3-only client",
            Some("web_config_noAuth_someCiphers.good.yml"),
            ConnectionFails,
        )
        .tls(&TLS13_ONLY),
        case(
            "RequireAndVerifyClientCert without a certificate",
            Some("tls_config_noAuth.requireandverifyclientcert.good.yml"),
            ConnectionFails,
        )
        .tls(&DEFAULT_TLS),
        case(
            "RequireAndVerifyClientCert with a certificate the CA file does not list",
            Some("tls_config_noAuth.requireandverifyclientcert.good.yml"),
            ConnectionFails,
        )
        .tls(&CLIENT2_SELFSIGNED),
        case(
            "client_allowed_sans and a client without a certificate",
            Some("web_config_auth_client_san.good.yaml"),
            ConnectionFails,
        )
        .tls(&DEFAULT_TLS),
        case(
            "VerifyClientCertIfGiven (system trust store) and a self-signed certificate",
            Some("web_config_noAuth.good.yml"),
            ConnectionFails,
        )
        .tls(&CLIENT_SELFSIGNED),
        case(
            "all ciphers: a TLS 1.2 client gets an AEAD suite",
            Some("web_config_noAuth_allCiphers.good.yml"),
            Hello(0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
        )
        .raw(RawHello {
            legacy_version: 0x0303,
            suites: GCM_SUITES,
        }),
    ];
    run_table("Around the reference's cases", &cases).await;
}

/// `TestConfigReloading`: the server starts with a file that blocks the test client
/// (`RequireAndVerifyClientCert`, no certificate sent), then the file's contents are swapped
/// with a good one (`VerifyClientCertIfGiven`) and the next connection is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toolkit_config_reloading() {
    patchlag_exporter::install_crypto_provider();
    let certs = Certificates::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let good = certs.case_dir(dir.path(), "web_config_noAuth.good.yml");
    let blocking = certs.case_dir(dir.path(), "web_config_noAuth.good.blocking.yml");
    let Started::Running(exporter) = start(dir.path(), Some(&blocking)) else {
        panic!("refused at start");
    };
    let client = TlsClient::default();
    let got = tls_request(&exporter.address, dir.path(), &client, "/-/healthy", None).await;
    assert!(matches!(got, Got::Failed(_)), "{got:?}");
    let (good_text, blocking_text) = (
        std::fs::read_to_string(&good).expect("read"),
        std::fs::read_to_string(&blocking).expect("read"),
    );
    std::fs::write(&good, blocking_text).expect("write");
    std::fs::write(&blocking, good_text).expect("write");
    let got = tls_request(&exporter.address, dir.path(), &client, "/-/healthy", None).await;
    assert!(
        matches!(&got, Got::Answer { status: 200, .. }),
        "{got:?}: {:?}",
        exporter.logs()
    );
    println!("\nTestConfigReloading: blocked, then served after the swap: same");
}

/// `TestUsers`. The users' hashes (costs 12, 18, 10 and 10, as in the reference's file) are
/// ours; a wrong user name is answered in the time of the cheapest check, not bob's cost 18.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toolkit_users() {
    use Outcome::*;
    let unauthorized = Status(401, "Unauthorized");
    let cases = [
        case(
            "without basic auth",
            Some("web_config_users_noTLS.good.yml"),
            unauthorized,
        ),
        case(
            "with correct basic auth",
            Some("web_config_users_noTLS.good.yml"),
            Served,
        )
        .user("dave", "dave-secret"),
        case(
            "without basic auth and TLS",
            Some("web_config_users.good.yml"),
            unauthorized,
        )
        .tls(&DEFAULT_TLS),
        case(
            "with correct basic auth and TLS",
            Some("web_config_users.good.yml"),
            Served,
        )
        .tls(&DEFAULT_TLS)
        .user("dave", "dave-secret"),
        case(
            "with another correct basic auth and TLS",
            Some("web_config_users.good.yml"),
            Served,
        )
        .tls(&DEFAULT_TLS)
        .user("carol", "carol-secret"),
        case(
            "with bad password and TLS",
            Some("web_config_users.good.yml"),
            unauthorized,
        )
        .tls(&DEFAULT_TLS)
        .user("dave", "bad"),
        case(
            "with bad username and TLS",
            Some("web_config_users.good.yml"),
            unauthorized,
        )
        .tls(&DEFAULT_TLS)
        .user("nonexistent", "nonexistent"),
    ];
    run_table("TestUsers", &cases).await;
}
