//! The web configuration file (`--web.config.file`): TLS, client certificates, response headers
//! and basic authentication, with the keys of prometheus/exporter-toolkit so that one file can
//! serve every Prometheus component on a host.
//!
//! The file is read once, at start, and checked completely (certificates and keys included): a
//! bad file is a configuration error, never a server that comes up without the protection it
//! was asked for. The certificate, key and client CA *files* are then watched: every new
//! connection compares their stamps (modification time, size, inode) with those of the files
//! in use and, when one changed, builds a new TLS configuration, so a renewed certificate is
//! served without a restart. A rotation caught half-way (new certificate, old key) keeps the
//! previous configuration until the files match again.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::extract::State;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware;
use axum::response::Response;
use axum::Router;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{ring as ring_provider, CryptoProvider, SupportedKxGroup};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
    SupportedCipherSuite, SupportedProtocolVersion,
};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::basic_auth::{self, BasicAuth};
use crate::yaml::{parse as parse_yaml, ConfigError};

/// exporter-toolkit's default: TLS 1.0 and 1.1 are off unless asked for.
const DEFAULT_MIN_VERSION: &str = "TLS12";
const DEFAULT_MAX_VERSION: &str = "TLS13";

/// The response headers exporter-toolkit lets a web configuration set, with the values it
/// accepts (empty: any value).
const ALLOWED_HEADERS: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// The costs bcrypt defines; a hash outside would fail every check.
const BCRYPT_COSTS: std::ops::RangeInclusive<u32> = 4..=31;

/// Go's names of the TLS 1.3 suites. Go, like rustls, always enables all of them and ignores
/// them in `cipher_suites`; they are accepted so that a file written for Go works here.
const GO_TLS13_SUITES: [&str; 3] = [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

// ---------------------------------------------------------------------------------------------
// The typed configuration
// ---------------------------------------------------------------------------------------------

pub struct WebConfig {
    pub file: PathBuf,
    /// `None`: plain HTTP.
    pub tls: Option<Arc<TlsReloader>>,
    /// Added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// User name → bcrypt hash. Empty: no authentication.
    pub basic_auth_users: BTreeMap<String, String>,
}

/// exporter-toolkit's `client_auth_type` values, which are Go's `tls.ClientAuthType` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    NoClientCert,
    /// Asks for a certificate, accepts any or none.
    RequestClientCert,
    /// Requires a certificate, any certificate (its key must sign the handshake).
    RequireAnyClientCert,
    /// Accepts no certificate, or one that chains to the client CA.
    VerifyClientCertIfGiven,
    /// Requires a certificate that chains to the client CA: the one secure choice.
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    fn parse(value: &str) -> Option<ClientAuth> {
        Some(match value {
            "" | "NoClientCert" => ClientAuth::NoClientCert,
            "RequestClientCert" => ClientAuth::RequestClientCert,
            // "RequireClientCert" is an old exporter-toolkit spelling it still accepts.
            "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
            _ => return None,
        })
    }

    fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        )
    }
}

/// PEM text, from a file (re-read when it changes) or inline in the web configuration.
#[derive(Debug, Clone)]
enum Pem {
    File(PathBuf),
    Inline(String),
}

impl Pem {
    fn read(&self) -> Result<Vec<u8>, String> {
        match self {
            Pem::File(path) => {
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
            }
            Pem::Inline(text) => Ok(text.as_bytes().to_vec()),
        }
    }

    fn stamp(&self) -> Option<FileStamp> {
        match self {
            Pem::File(path) => FileStamp::of(path),
            Pem::Inline(_) => None,
        }
    }
}

/// What tells a replaced file from the one in use. The inode catches a file renamed into place
/// with an older modification time (`mv`, Kubernetes secret volumes switching a symlink).
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
    device: u64,
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        let meta = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode: meta.ino(),
            device: meta.dev(),
        })
    }
}

/// Which setting a TLS error belongs to, for its message and, at start, its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsKey {
    Cert,
    Key,
    ClientCa,
    /// Versions, suites and groups that leave nothing to negotiate.
    Protocol,
}

#[derive(Debug)]
struct TlsError {
    key: TlsKey,
    message: String,
}

impl TlsError {
    fn new(key: TlsKey, message: impl Into<String>) -> TlsError {
        TlsError {
            key,
            message: message.into(),
        }
    }
}

/// Everything needed to build the server's TLS configuration again when its files change.
#[derive(Debug)]
pub struct TlsSettings {
    cert: Pem,
    key: Pem,
    client_ca: Option<Pem>,
    pub client_auth: ClientAuth,
    versions: Vec<&'static SupportedProtocolVersion>,
    /// The ring provider with the configured cipher suites and key-exchange groups.
    provider: Arc<CryptoProvider>,
    /// exporter-toolkit's `prefer_server_cipher_suites`.
    ignore_client_order: bool,
}

impl TlsSettings {
    /// The dotted key of a setting, as written in the file.
    fn key_name(&self, key: TlsKey) -> &'static str {
        let inline = |pem: Option<&Pem>| matches!(pem, Some(Pem::Inline(_)));
        match key {
            TlsKey::Cert if inline(Some(&self.cert)) => "tls_server_config.cert",
            TlsKey::Cert => "tls_server_config.cert_file",
            TlsKey::Key if inline(Some(&self.key)) => "tls_server_config.key",
            TlsKey::Key => "tls_server_config.key_file",
            TlsKey::ClientCa if inline(self.client_ca.as_ref()) => "tls_server_config.client_ca",
            TlsKey::ClientCa => "tls_server_config.client_ca_file",
            TlsKey::Protocol => "tls_server_config",
        }
    }

    fn stamps(&self) -> [Option<FileStamp>; 3] {
        [
            self.cert.stamp(),
            self.key.stamp(),
            self.client_ca.as_ref().and_then(Pem::stamp),
        ]
    }

    fn server_config(&self) -> Result<ServerConfig, TlsError> {
        let cert_pem = self
            .cert
            .read()
            .map_err(|m| TlsError::new(TlsKey::Cert, m))?;
        let certs = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::new(TlsKey::Cert, format!("invalid PEM certificate: {e}")))?;
        if certs.is_empty() {
            return Err(TlsError::new(TlsKey::Cert, "no PEM certificate found"));
        }
        let key_pem = self.key.read().map_err(|m| TlsError::new(TlsKey::Key, m))?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            TlsError::new(
                TlsKey::Key,
                match e {
                    pem::Error::NoItemsFound => "no PEM private key found".to_string(),
                    e => format!("invalid PEM private key: {e}"),
                },
            )
        })?;
        let builder = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&self.versions)
            .map_err(|e| TlsError::new(TlsKey::Protocol, e.to_string()))?;
        let builder = match self.client_auth {
            ClientAuth::NoClientCert => builder.with_no_client_auth(),
            ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => builder
                .with_client_cert_verifier(Arc::new(AnyClientCert {
                    mandatory: self.client_auth == ClientAuth::RequireAnyClientCert,
                    provider: self.provider.clone(),
                })),
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
                let ca = self
                    .client_ca
                    .as_ref()
                    .ok_or_else(|| TlsError::new(TlsKey::ClientCa, "missing"))?;
                let ca_pem = ca.read().map_err(|m| TlsError::new(TlsKey::ClientCa, m))?;
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(&ca_pem) {
                    let cert = cert.map_err(|e| {
                        TlsError::new(TlsKey::ClientCa, format!("invalid PEM certificate: {e}"))
                    })?;
                    roots.add(cert).map_err(|e| {
                        TlsError::new(TlsKey::ClientCa, format!("unusable CA certificate: {e}"))
                    })?;
                }
                if roots.is_empty() {
                    return Err(TlsError::new(TlsKey::ClientCa, "no PEM certificate found"));
                }
                let mut verifier = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    self.provider.clone(),
                );
                if self.client_auth == ClientAuth::VerifyClientCertIfGiven {
                    verifier = verifier.allow_unauthenticated();
                }
                builder.with_client_cert_verifier(
                    verifier
                        .build()
                        .map_err(|e| TlsError::new(TlsKey::ClientCa, e.to_string()))?,
                )
            }
        };
        let mut config = builder.with_single_cert(certs, key).map_err(|e| {
            TlsError::new(
                TlsKey::Key,
                format!("does not fit the certificate, or is unusable: {e}"),
            )
        })?;
        config.ignore_client_order = self.ignore_client_order;
        // HTTP/1.1 only: announcing it lets clients that offer h2 settle at once.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// The verifier behind `RequestClientCert` and `RequireAnyClientCert`: any certificate is
/// accepted as long as the client proves it holds the key. This is what those Go modes do;
/// they authenticate nothing, which is why the documentation steers users away from them.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

impl WebConfig {
    /// Wraps every route in the configured protection: basic authentication, then the extra
    /// response headers (outermost, so that a 401 carries them too).
    pub fn layer(&self, router: Router) -> Router {
        let mut router = router;
        if let Some(auth) = BasicAuth::new(self.basic_auth_users.clone()) {
            router = router.layer(middleware::from_fn_with_state(
                Arc::new(auth),
                basic_auth::require,
            ));
        }
        if !self.headers.is_empty() {
            router = router.layer(middleware::map_response_with_state(
                Arc::new(self.headers.clone()),
                add_headers,
            ));
        }
        router
    }
}

async fn add_headers(
    State(headers): State<Arc<Vec<(HeaderName, HeaderValue)>>>,
    mut response: Response,
) -> Response {
    for (name, value) in headers.iter() {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

// ---------------------------------------------------------------------------------------------
// Certificate rotation
// ---------------------------------------------------------------------------------------------

struct Loaded {
    stamps: [Option<FileStamp>; 3],
    config: Arc<ServerConfig>,
    /// Stamps of files that failed to load, so a broken rotation is logged once, not on every
    /// connection, and retried as soon as a file changes again.
    failed: Option<[Option<FileStamp>; 3]>,
}

/// The server's TLS configuration, rebuilt when the certificate, key or client CA file changes.
pub struct TlsReloader {
    settings: TlsSettings,
    loaded: Mutex<Loaded>,
}

impl TlsReloader {
    fn new(settings: TlsSettings) -> Result<TlsReloader, TlsError> {
        let stamps = settings.stamps();
        let config = Arc::new(settings.server_config()?);
        Ok(TlsReloader {
            settings,
            loaded: Mutex::new(Loaded {
                stamps,
                config,
                failed: None,
            }),
        })
    }

    pub fn client_auth(&self) -> ClientAuth {
        self.settings.client_auth
    }

    /// The configuration for a new connection: a few `stat` calls when nothing changed.
    pub fn current(&self) -> Arc<ServerConfig> {
        let stamps = self.settings.stamps();
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if stamps == loaded.stamps || loaded.failed.as_ref() == Some(&stamps) {
            return loaded.config.clone();
        }
        match self.settings.server_config() {
            Ok(config) => {
                tracing::info!("TLS files changed: serving the new certificate");
                loaded.config = Arc::new(config);
                loaded.stamps = stamps;
                loaded.failed = None;
            }
            Err(e) => {
                tracing::warn!(
                    setting = self.settings.key_name(e.key),
                    error = %e.message,
                    "TLS files changed but cannot be used; keeping the previous certificate"
                );
                loaded.failed = Some(stamps);
            }
        }
        loaded.config.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// The YAML as written
// ---------------------------------------------------------------------------------------------

type S<T> = Spanned<T>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, S<String>>,
    rate_limit: Option<S<serde::de::IgnoredAny>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Option<S<String>>,
    key: Option<S<String>>,
    client_ca: Option<S<String>>,
    cert_file: Option<S<String>>,
    key_file: Option<S<String>>,
    client_auth_type: Option<S<String>>,
    client_ca_file: Option<S<String>>,
    client_allowed_sans: Option<S<Vec<String>>>,
    min_version: Option<S<String>>,
    max_version: Option<S<String>>,
    cipher_suites: Option<Vec<S<String>>>,
    prefer_server_cipher_suites: Option<bool>,
    curve_preferences: Option<Vec<S<String>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    http2: Option<bool>,
    #[serde(default)]
    headers: BTreeMap<String, S<String>>,
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

impl WebConfig {
    /// Reads and checks a web configuration file, certificates and keys included.
    pub fn load(path: &Path) -> Result<WebConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: None,
            column: None,
            key: String::new(),
            message: format!("cannot read web configuration: {e}"),
        })?;
        WebConfig::parse(path, &text)
    }

    /// Parses and checks web configuration text; relative file names are relative to the
    /// directory of `path`, as in exporter-toolkit.
    pub fn parse(path: &Path, text: &str) -> Result<WebConfig, ConfigError> {
        // An empty file (or one with only comments) is valid and changes nothing, as in
        // exporter-toolkit.
        let raw: RawWebConfig = if text.lines().all(|l| {
            let l = l.trim();
            l.is_empty() || l.starts_with('#') || l == "---"
        }) {
            RawWebConfig::default()
        } else {
            parse_yaml(path, text)?
        };
        Checker { file: path }.check(raw)
    }
}

struct Checker<'a> {
    file: &'a Path,
}

impl Checker<'_> {
    fn err<T>(&self, at: Option<&S<T>>, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            line: at.map(|s| s.referenced.line() as usize).filter(|l| *l > 0),
            column: at
                .map(|s| s.referenced.column() as usize)
                .filter(|c| *c > 0),
            key: key.to_string(),
            message: message.into(),
        }
    }

    fn resolve(&self, file: &str) -> PathBuf {
        let path = PathBuf::from(file);
        if path.is_relative() {
            if let Some(dir) = self.file.parent() {
                return dir.join(path);
            }
        }
        path
    }

    /// `inline` or `file`, not both; `None` when neither is set.
    fn pem(
        &self,
        inline: &Option<S<String>>,
        file: &Option<S<String>>,
        name: &str,
    ) -> Result<Option<Pem>, ConfigError> {
        match (inline, file) {
            (Some(i), Some(_)) => Err(self.err(
                Some(i),
                &format!("tls_server_config.{name}"),
                format!("set either {name} or {name}_file, not both"),
            )),
            (Some(i), None) => Ok(Some(Pem::Inline(i.value.clone()))),
            (None, Some(f)) if f.value.trim().is_empty() => Err(self.err(
                Some(f),
                &format!("tls_server_config.{name}_file"),
                "must not be empty",
            )),
            (None, Some(f)) => Ok(Some(Pem::File(self.resolve(&f.value)))),
            (None, None) => Ok(None),
        }
    }

    fn check(&self, raw: RawWebConfig) -> Result<WebConfig, ConfigError> {
        if let Some(r) = &raw.rate_limit {
            return Err(self.err(
                Some(r),
                "rate_limit",
                "not supported by patchlag-exporter; --web.max-requests caps concurrent scrapes",
            ));
        }
        let mut basic_auth_users = BTreeMap::new();
        for (user, hash) in &raw.basic_auth_users {
            // The message never repeats the value: it may be a password pasted by mistake.
            let problem = match hash.value.parse::<bcrypt::HashParts>() {
                Err(e) => Some(e.to_string()),
                Ok(parts) if !(BCRYPT_COSTS.contains(&parts.get_cost())) => Some(format!(
                    "cost {} is outside {}..={}",
                    parts.get_cost(),
                    BCRYPT_COSTS.start(),
                    BCRYPT_COSTS.end()
                )),
                Ok(_) => None,
            };
            if let Some(problem) = problem {
                return Err(self.err(
                    Some(hash),
                    &format!("basic_auth_users.{user}"),
                    format!("not a bcrypt hash ({problem}); make one with `htpasswd -nBC 10 \"\"`"),
                ));
            }
            basic_auth_users.insert(user.clone(), hash.value.clone());
        }
        let http = raw.http_server_config.unwrap_or_default();
        let mut headers = Vec::new();
        for (name, value) in &http.headers {
            let key = format!("http_server_config.headers.{name}");
            let Some((_, allowed)) = ALLOWED_HEADERS.iter().find(|(h, _)| h == name) else {
                return Err(self.err(
                    Some(value),
                    &key,
                    format!(
                        "this header cannot be configured; allowed: {}",
                        ALLOWED_HEADERS.map(|(h, _)| h).join(", ")
                    ),
                ));
            };
            if value.value.is_empty() {
                // exporter-toolkit: blank means unset.
                continue;
            }
            if !allowed.is_empty() && !allowed.contains(&value.value.as_str()) {
                return Err(self.err(
                    Some(value),
                    &key,
                    format!("must be one of {}", allowed.join(", ")),
                ));
            }
            let header_value = HeaderValue::from_str(&value.value)
                .map_err(|_| self.err(Some(value), &key, "invalid header value"))?;
            let header_name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| self.err(Some(value), &key, "invalid header name"))?;
            headers.push((header_name, header_value));
        }
        if http.http2 == Some(true) {
            tracing::info!(
                "http_server_config.http2: HTTP/2 is not served; clients use HTTP/1.1 (Prometheus scrapes over HTTP/1.1)"
            );
        }
        let tls = match raw.tls_server_config {
            Some(t) => self.tls(t)?,
            None => None,
        };
        let tls = match tls {
            // Loading the files now turns a missing or mismatched certificate into a start-up
            // error with a line number, not a failed handshake later.
            Some((settings, raw_tls)) => {
                let key_name = |key| settings.key_name(key);
                let names = [
                    TlsKey::Cert,
                    TlsKey::Key,
                    TlsKey::ClientCa,
                    TlsKey::Protocol,
                ]
                .map(|k| (k, key_name(k)));
                let reloader = TlsReloader::new(settings).map_err(|e| {
                    let at = match e.key {
                        TlsKey::Cert => raw_tls.cert.as_ref().or(raw_tls.cert_file.as_ref()),
                        TlsKey::Key => raw_tls.key.as_ref().or(raw_tls.key_file.as_ref()),
                        TlsKey::ClientCa => raw_tls
                            .client_ca
                            .as_ref()
                            .or(raw_tls.client_ca_file.as_ref()),
                        TlsKey::Protocol => None,
                    };
                    let key = names
                        .iter()
                        .find(|(k, _)| *k == e.key)
                        .map_or("tls_server_config", |(_, n)| n);
                    self.err(at, key, e.message)
                })?;
                Some(Arc::new(reloader))
            }
            None => None,
        };
        Ok(WebConfig {
            file: self.file.to_path_buf(),
            tls,
            headers,
            basic_auth_users,
        })
    }

    fn tls(&self, raw: RawTls) -> Result<Option<(TlsSettings, RawTls)>, ConfigError> {
        let t = &raw;
        // Where to point when a required key is missing: the first key that is there.
        let at = [
            &t.cert,
            &t.cert_file,
            &t.key,
            &t.key_file,
            &t.client_auth_type,
            &t.client_ca_file,
            &t.client_ca,
            &t.min_version,
            &t.max_version,
        ]
        .into_iter()
        .find_map(Option::as_ref);
        let cert = self.pem(&t.cert, &t.cert_file, "cert")?;
        let key = self.pem(&t.key, &t.key_file, "key")?;
        let client_ca = self.pem(&t.client_ca, &t.client_ca_file, "client_ca")?;
        let nothing_set = cert.is_none()
            && key.is_none()
            && client_ca.is_none()
            && t.client_auth_type.is_none()
            && t.min_version.is_none()
            && t.max_version.is_none()
            && t.cipher_suites.is_none()
            && t.curve_preferences.is_none()
            && t.prefer_server_cipher_suites.is_none()
            && t.client_allowed_sans.is_none();
        if nothing_set {
            return Ok(None);
        }
        if let Some(sans) = &t.client_allowed_sans {
            return Err(self.err(
                Some(sans),
                "tls_server_config.client_allowed_sans",
                "not supported by patchlag-exporter; issue client certificates from a dedicated CA instead",
            ));
        }
        let Some(cert) = cert else {
            return Err(self.err(
                at,
                "tls_server_config.cert_file",
                "missing: TLS needs cert_file (or cert) and key_file (or key)",
            ));
        };
        let Some(key) = key else {
            return Err(self.err(
                at,
                "tls_server_config.key_file",
                "missing: TLS needs cert_file (or cert) and key_file (or key)",
            ));
        };
        let client_auth = match &t.client_auth_type {
            Some(v) => ClientAuth::parse(&v.value).ok_or_else(|| {
                self.err(
                    Some(v),
                    "tls_server_config.client_auth_type",
                    format!(
                        "unknown value {:?}, expected NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert",
                        v.value
                    ),
                )
            })?,
            None => ClientAuth::NoClientCert,
        };
        let ca_at = t.client_ca.as_ref().or(t.client_ca_file.as_ref());
        if client_auth == ClientAuth::NoClientCert && client_ca.is_some() {
            return Err(self.err(
                ca_at,
                "tls_server_config.client_auth_type",
                "a client CA is set but client_auth_type is NoClientCert: set RequireAndVerifyClientCert",
            ));
        }
        if client_auth.verifies() && client_ca.is_none() {
            return Err(self.err(
                t.client_auth_type.as_ref(),
                "tls_server_config.client_ca_file",
                format!("required by client_auth_type {client_auth:?}"),
            ));
        }

        let min = self.version(t.min_version.as_ref(), "min_version", DEFAULT_MIN_VERSION)?;
        let max = self.version(t.max_version.as_ref(), "max_version", DEFAULT_MAX_VERSION)?;
        if max < 12 {
            return Err(self.err(
                t.max_version.as_ref(),
                "tls_server_config.max_version",
                "TLS 1.0 and 1.1 are not available (rustls implements TLS 1.2 and 1.3)",
            ));
        }
        if min > max {
            return Err(self.err(
                t.min_version.as_ref(),
                "tls_server_config.min_version",
                "greater than max_version",
            ));
        }
        // A minimum below TLS 1.2 cannot be honoured downwards: rustls never speaks TLS 1.0/1.1.
        let mut versions = Vec::new();
        if min <= 12 {
            versions.push(&rustls::version::TLS12);
        }
        versions.push(&rustls::version::TLS13);

        let mut provider = ring_provider::default_provider();
        if let Some(names) = &t.cipher_suites {
            provider.cipher_suites = self.cipher_suites(names)?;
        }
        if let Some(names) = &t.curve_preferences {
            provider.kx_groups = self.curves(names)?;
        }
        Ok(Some((
            TlsSettings {
                cert,
                key,
                client_ca,
                client_auth,
                versions,
                provider: Arc::new(provider),
                // exporter-toolkit defaults to the server's order.
                ignore_client_order: t.prefer_server_cipher_suites.unwrap_or(true),
            },
            raw,
        )))
    }

    /// TLS10 → 10 ... TLS13 → 13.
    fn version(
        &self,
        value: Option<&S<String>>,
        name: &str,
        default: &str,
    ) -> Result<u8, ConfigError> {
        let text = value.map_or(default, |v| v.value.as_str());
        match text {
            "TLS10" => Ok(10),
            "TLS11" => Ok(11),
            "TLS12" => Ok(12),
            "TLS13" => Ok(13),
            other => Err(self.err(
                value,
                &format!("tls_server_config.{name}"),
                format!("unknown TLS version {other:?}, expected TLS10, TLS11, TLS12 or TLS13"),
            )),
        }
    }

    /// Go's suite names. The TLS 1.3 suites are always enabled (in Go too); the listed TLS 1.2
    /// suites replace the default ones, in the order given.
    fn cipher_suites(&self, names: &[S<String>]) -> Result<Vec<SupportedCipherSuite>, ConfigError> {
        let all = ring_provider::ALL_CIPHER_SUITES;
        let mut suites: Vec<SupportedCipherSuite> = all
            .iter()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
            .copied()
            .collect();
        let tls12: Vec<&SupportedCipherSuite> = all
            .iter()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls12(_)))
            .collect();
        for name in names {
            if GO_TLS13_SUITES.contains(&name.value.as_str()) {
                continue;
            }
            match tls12
                .iter()
                .find(|s| s.suite().as_str() == Some(name.value.as_str()))
            {
                Some(s) if !suites.contains(s) => suites.push(**s),
                Some(_) => {}
                None => {
                    return Err(self.err(
                        Some(name),
                        "tls_server_config.cipher_suites",
                        format!(
                            "unsupported cipher suite {:?}; available: {}",
                            name.value,
                            tls12
                                .iter()
                                .filter_map(|s| s.suite().as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ))
                }
            }
        }
        Ok(suites)
    }

    fn curves(
        &self,
        names: &[S<String>],
    ) -> Result<Vec<&'static dyn SupportedKxGroup>, ConfigError> {
        let mut groups: Vec<&'static dyn SupportedKxGroup> = Vec::new();
        for name in names {
            let group = match name.value.as_str() {
                "X25519" => ring_provider::kx_group::X25519,
                "CurveP256" => ring_provider::kx_group::SECP256R1,
                "CurveP384" => ring_provider::kx_group::SECP384R1,
                other => {
                    return Err(self.err(
                        Some(name),
                        "tls_server_config.curve_preferences",
                        format!(
                            "unsupported curve {other:?}; available: X25519, CurveP256, CurveP384"
                        ),
                    ))
                }
            };
            if !groups.iter().any(|g| g.name() == group.name()) {
                groups.push(group);
            }
        }
        if groups.is_empty() {
            return Err(self.err::<()>(
                None,
                "tls_server_config.curve_preferences",
                "must name at least one curve",
            ));
        }
        Ok(groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed() -> (String, String) {
        let generated =
            rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
        (generated.cert.pem(), generated.signing_key.serialize_pem())
    }

    /// A directory with `cert.pem`, `key.pem` and `ca.pem` (any certificate will do as a CA
    /// here: the files only have to parse).
    fn tls_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = self_signed();
        std::fs::write(dir.path().join("cert.pem"), &cert).expect("write");
        std::fs::write(dir.path().join("key.pem"), key).expect("write");
        std::fs::write(dir.path().join("ca.pem"), cert).expect("write");
        dir
    }

    fn parse_in(dir: &Path, text: &str) -> Result<WebConfig, ConfigError> {
        WebConfig::parse(&dir.join("web.yml"), text)
    }

    /// The one-line error, with the directory taken out.
    fn error_in(dir: &Path, text: &str) -> String {
        match parse_in(dir, text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string().replace(&format!("{}/", dir.display()), ""),
        }
    }

    const HASH: &str = "$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG";

    #[test]
    fn empty_or_comment_only_files_change_nothing() {
        let dir = tls_dir();
        for text in ["", "# nothing yet\n", "---\n"] {
            let web = parse_in(dir.path(), text).expect("valid");
            assert!(web.tls.is_none() && web.basic_auth_users.is_empty() && web.headers.is_empty());
        }
        let web = parse_in(dir.path(), "tls_server_config: {}\n").expect("valid");
        assert!(web.tls.is_none());
    }

    #[test]
    fn full_configuration_with_relative_files() {
        let dir = tls_dir();
        let web = parse_in(
            dir.path(),
            &format!(
                r#"
tls_server_config:
  cert_file: cert.pem
  key_file: key.pem
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.pem
  min_version: TLS12
  max_version: TLS13
  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]
  curve_preferences: [X25519, CurveP256]
  prefer_server_cipher_suites: false
http_server_config:
  http2: false
  headers:
    X-Frame-Options: deny
    Content-Security-Policy: "default-src 'self'"
    X-XSS-Protection: ""
basic_auth_users:
  prometheus: "{HASH}"
"#
            ),
        )
        .expect("valid");
        let tls = web.tls.expect("tls");
        assert_eq!(tls.client_auth(), ClientAuth::RequireAndVerifyClientCert);
        let config = tls.current();
        assert!(!config.ignore_client_order);
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert_eq!(
            web.headers
                .iter()
                .map(|(n, v)| format!("{n}: {}", v.to_str().expect("ascii")))
                .collect::<Vec<_>>(),
            [
                "content-security-policy: default-src 'self'",
                "x-frame-options: deny"
            ]
        );
        assert_eq!(web.basic_auth_users["prometheus"], HASH);
    }

    #[test]
    fn errors_name_line_column_and_key() {
        let dir = tls_dir();
        let d = dir.path();
        let cases: Vec<(String, &str)> = vec![
            (
                "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  ca_file: x\n".into(),
                "web.yml:4:3: tls_server_config.ca_file: unknown field `ca_file`, expected one of cert, key,",
            ),
            (
                "basic_auth_users:\n  alice: plaintext\n".into(),
                "web.yml:2:10: basic_auth_users.alice: not a bcrypt hash",
            ),
            (
                "basic_auth_users:\n  alice: $2y$03$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG\n".into(),
                "web.yml:2:10: basic_auth_users.alice: not a bcrypt hash (cost 3 is outside 4..=31)",
            ),
            (
                "tls_server_config:\n  cert_file: cert.pem\n".into(),
                "web.yml:2:14: tls_server_config.key_file: missing",
            ),
            (
                "tls_server_config:\n  cert_file: nowhere.pem\n  key_file: key.pem\n".into(),
                "web.yml:2:14: tls_server_config.cert_file: cannot read",
            ),
            (
                "tls_server_config:\n  cert_file: cert.pem\n  key_file: cert.pem\n".into(),
                "web.yml:3:13: tls_server_config.key_file: no PEM private key found",
            ),
            (
                "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  cert: inline\n"
                    .into(),
                "web.yml:4:9: tls_server_config.cert: set either cert or cert_file, not both",
            ),
            (
                "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  client_ca_file: ca.pem\n".into(),
                "web.yml:4:19: tls_server_config.client_auth_type: a client CA is set but client_auth_type is NoClientCert",
            ),
            (
                "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  client_auth_type: RequireAndVerifyClientCert\n".into(),
                "web.yml:4:21: tls_server_config.client_ca_file: required by client_auth_type RequireAndVerifyClientCert",
            ),
            (
                "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  client_auth_type: Always\n".into(),
                "web.yml:4:21: tls_server_config.client_auth_type: unknown value \"Always\"",
            ),
            (
                "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  max_version: TLS11\n".into(),
                "web.yml:4:16: tls_server_config.max_version: TLS 1.0 and 1.1 are not available",
            ),
            (
                "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  min_version: TLS13\n  max_version: TLS12\n".into(),
                "web.yml:4:16: tls_server_config.min_version: greater than max_version",
            ),
            (
                "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  min_version: SSL3\n".into(),
                "web.yml:4:16: tls_server_config.min_version: unknown TLS version \"SSL3\"",
            ),
            (
                "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n".into(),
                "web.yml:4:19: tls_server_config.cipher_suites: unsupported cipher suite \"TLS_RSA_WITH_AES_128_CBC_SHA\"",
            ),
            (
                "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  curve_preferences: [CurveP521]\n".into(),
                "web.yml:4:23: tls_server_config.curve_preferences: unsupported curve \"CurveP521\"",
            ),
            (
                "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  client_allowed_sans: [a]\n".into(),
                "web.yml:4:24: tls_server_config.client_allowed_sans: not supported",
            ),
            (
                "rate_limit:\n  interval: 1s\n  burst: 5\n".into(),
                "web.yml:2:3: rate_limit: not supported",
            ),
            (
                "http_server_config:\n  headers:\n    Server: x\n".into(),
                "web.yml:3:13: http_server_config.headers.Server: this header cannot be configured",
            ),
            (
                "http_server_config:\n  headers:\n    X-Frame-Options: allow\n".into(),
                "web.yml:3:22: http_server_config.headers.X-Frame-Options: must be one of deny, sameorigin",
            ),
        ];
        for (text, expected) in cases {
            let message = error_in(d, &text);
            assert!(
                message.starts_with(expected),
                "for:\n{text}\nexpected: {expected}\n     got: {message}"
            );
            assert!(!message.contains('\n'), "one line: {message}");
        }
    }

    #[test]
    fn mismatched_key_is_rejected() {
        let dir = tls_dir();
        let (_, other_key) = self_signed();
        std::fs::write(dir.path().join("other.key"), other_key).expect("write");
        let message = error_in(
            dir.path(),
            "tls_server_config:\n  cert_file: cert.pem\n  key_file: other.key\n",
        );
        assert!(
            message.starts_with("web.yml:3:13: tls_server_config.key_file: does not fit"),
            "{message}"
        );
    }

    #[test]
    fn rotated_files_are_picked_up_and_broken_ones_are_not() {
        let dir = tls_dir();
        let web = parse_in(
            dir.path(),
            "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n",
        )
        .expect("valid");
        let tls = web.tls.expect("tls");
        let first = tls.current();
        assert!(
            Arc::ptr_eq(&first, &tls.current()),
            "unchanged files: same configuration"
        );

        // Half a rotation: a new certificate with the old key is not used.
        let (cert, key) = self_signed();
        std::fs::write(dir.path().join("cert.pem"), &cert).expect("write");
        assert!(Arc::ptr_eq(&first, &tls.current()));
        // The other half completes it.
        std::fs::write(dir.path().join("key.pem"), &key).expect("write");
        let second = tls.current();
        assert!(!Arc::ptr_eq(&first, &second));
        assert!(Arc::ptr_eq(&second, &tls.current()));

        // A file that disappears keeps the configuration in use.
        std::fs::remove_file(dir.path().join("key.pem")).expect("remove");
        assert!(Arc::ptr_eq(&second, &tls.current()));
    }
}
