//! TLS for `tls_server_config`: the rustls server configuration built from checked settings,
//! one client-certificate verifier per `client_auth_type`, `client_allowed_sans`, and the
//! certificate, key and client CA files re-read when they change.
//!
//! Every new connection asks [`TlsReloader::current`] for its configuration: a few `stat` calls
//! when nothing changed. When a file changed, the configuration is built again before the
//! handshake, so a renewed certificate is served without a restart. A rotation caught half-way
//! (new certificate, old key) keeps the previous configuration until the files match again.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{ring as ring_provider, CryptoProvider, SupportedKxGroup};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, RootCertStore,
    ServerConfig, SignatureScheme, SupportedCipherSuite, SupportedProtocolVersion,
};

use super::FileStamp;

/// exporter-toolkit's `client_auth_type` values, which are Go's `tls.ClientAuthType` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    NoClientCert,
    /// Asks for a certificate, accepts any or none.
    RequestClientCert,
    /// Requires a certificate, any certificate (its key must sign the handshake).
    RequireAnyClientCert,
    /// Accepts no certificate, or one that chains to a trusted CA.
    VerifyClientCertIfGiven,
    /// Requires a certificate that chains to a trusted CA: the one choice that authenticates.
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    pub fn parse(value: &str) -> Option<ClientAuth> {
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

    /// Whether a presented certificate is verified against the client CAs (or, without
    /// `client_ca_file`, the system trust store).
    pub fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        )
    }
}

/// PEM text, from a file (re-read when it changes) or inline in the web configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pem {
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

/// Which setting a TLS error belongs to, for its message and, when checking the file, its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsKey {
    Cert,
    Key,
    ClientCa,
    /// Versions, suites and groups that leave nothing to negotiate.
    Protocol,
}

#[derive(Debug)]
pub struct TlsError {
    pub key: TlsKey,
    pub message: String,
}

impl TlsError {
    fn new(key: TlsKey, message: impl Into<String>) -> TlsError {
        TlsError {
            key,
            message: message.into(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Go's names
// ---------------------------------------------------------------------------------------------

/// What a cipher suite named in `cipher_suites` is here.
pub enum SuiteName {
    /// A TLS 1.3 suite: Go, like rustls, always enables all of them and ignores them in the
    /// list; accepted so that a file written for Go works here.
    Tls13,
    Tls12(SupportedCipherSuite),
    /// A suite Go's `tls.CipherSuites()` offers that rustls does not implement (CBC modes, RSA
    /// key exchange).
    NotImplemented,
    Unknown,
}

/// Go's `tls.CipherSuites()` names that rustls does not implement.
const GO_SUITES_NOT_IN_RUSTLS: [&str; 8] = [
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
];

const GO_TLS13_SUITES: [&str; 3] = [
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

pub fn cipher_suite(name: &str) -> SuiteName {
    if GO_TLS13_SUITES.contains(&name) {
        return SuiteName::Tls13;
    }
    if let Some(suite) = tls12_suites().find(|s| s.suite().as_str() == Some(name)) {
        return SuiteName::Tls12(suite);
    }
    if GO_SUITES_NOT_IN_RUSTLS.contains(&name) {
        return SuiteName::NotImplemented;
    }
    SuiteName::Unknown
}

fn tls12_suites() -> impl Iterator<Item = SupportedCipherSuite> {
    ring_provider::ALL_CIPHER_SUITES
        .iter()
        .filter(|s| matches!(s, SupportedCipherSuite::Tls12(_)))
        .copied()
}

/// The TLS 1.2 suites available, by Go name, for error messages.
pub fn tls12_suite_names() -> String {
    tls12_suites()
        .filter_map(|s| s.suite().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The TLS 1.3 suites (all of them, as in Go), then the listed TLS 1.2 ones in their order.
pub fn cipher_suites(tls12: &[SupportedCipherSuite]) -> Vec<SupportedCipherSuite> {
    ring_provider::ALL_CIPHER_SUITES
        .iter()
        .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
        .copied()
        .chain(tls12.iter().copied())
        .collect()
}

/// What a curve named in `curve_preferences` is here.
pub enum CurveName {
    Available(&'static dyn SupportedKxGroup),
    /// A curve Go offers that the ring provider does not implement.
    NotImplemented,
    Unknown,
}

pub const AVAILABLE_CURVES: &str = "X25519, CurveP256, CurveP384";

pub fn curve(name: &str) -> CurveName {
    match name {
        "X25519" => CurveName::Available(ring_provider::kx_group::X25519),
        "CurveP256" => CurveName::Available(ring_provider::kx_group::SECP256R1),
        "CurveP384" => CurveName::Available(ring_provider::kx_group::SECP384R1),
        "CurveP521" => CurveName::NotImplemented,
        _ => CurveName::Unknown,
    }
}

/// `min_version` and `max_version` (Go's numbering: TLS10 is 10) as the versions rustls
/// offers. TLS 1.0 and 1.1 do not exist in rustls: a minimum below 1.2 means 1.2.
pub fn protocol_versions(min: u8, max: u8) -> Vec<&'static SupportedProtocolVersion> {
    let mut versions = Vec::new();
    if min <= 12 && max >= 12 {
        versions.push(&rustls::version::TLS12);
    }
    if max >= 13 {
        versions.push(&rustls::version::TLS13);
    }
    versions
}

// ---------------------------------------------------------------------------------------------
// Settings → rustls
// ---------------------------------------------------------------------------------------------

/// Everything needed to build the server's TLS configuration again when its files change.
#[derive(Debug)]
pub struct TlsSettings {
    pub cert: Pem,
    pub key: Pem,
    pub client_ca: Option<Pem>,
    pub client_auth: ClientAuth,
    pub versions: Vec<&'static SupportedProtocolVersion>,
    /// The ring provider with the configured cipher suites and key-exchange groups.
    pub provider: Arc<CryptoProvider>,
    /// exporter-toolkit's `prefer_server_cipher_suites`.
    pub ignore_client_order: bool,
    /// A verified client certificate must carry one of these.
    pub client_allowed_sans: Option<Vec<String>>,
}

impl TlsSettings {
    fn stamps(&self) -> [Option<FileStamp>; 3] {
        [
            self.cert.stamp(),
            self.key.stamp(),
            self.client_ca.as_ref().and_then(Pem::stamp),
        ]
    }

    /// The dotted key of a setting, as written in the file.
    pub fn key_name(&self, key: TlsKey) -> &'static str {
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
                builder.with_client_cert_verifier(Arc::new(self.verifying_client_cert()?))
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

    /// The verifier of the two `Verify*` types: against `client_ca_file` or `client_ca`, else,
    /// as Go does, against the system trust store.
    fn verifying_client_cert(&self) -> Result<VerifyingClientCert, TlsError> {
        let mut roots = RootCertStore::empty();
        let mut anchors = Vec::new();
        let from_system = self.client_ca.is_none();
        match &self.client_ca {
            Some(ca) => {
                let ca_pem = ca.read().map_err(|m| TlsError::new(TlsKey::ClientCa, m))?;
                for cert in CertificateDer::pem_slice_iter(&ca_pem) {
                    let cert = cert.map_err(|e| {
                        TlsError::new(TlsKey::ClientCa, format!("invalid PEM certificate: {e}"))
                    })?;
                    roots.add(cert.clone()).map_err(|e| {
                        TlsError::new(TlsKey::ClientCa, format!("unusable CA certificate: {e}"))
                    })?;
                    anchors.push(cert);
                }
                if roots.is_empty() {
                    return Err(TlsError::new(TlsKey::ClientCa, "no PEM certificate found"));
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                for error in &found.errors {
                    tracing::warn!(error = %error, "cannot read part of the system trust store");
                }
                roots.add_parsable_certificates(found.certs);
                if roots.is_empty() {
                    return Err(TlsError::new(
                        TlsKey::ClientCa,
                        "not set, and the system trust store has no certificates to verify client certificates against",
                    ));
                }
            }
        }
        let mut builder =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), self.provider.clone());
        if from_system {
            // Go sends no CA names when it verifies against the system roots; a hundred-odd
            // names would only make every handshake larger.
            builder = builder.clear_root_hint_subjects();
        }
        let sans = self.client_allowed_sans.clone();
        // A verifier that lets clients without a certificate in cannot check their SANs; as
        // in exporter-toolkit, a client without one is then refused.
        if self.client_auth == ClientAuth::VerifyClientCertIfGiven && sans.is_none() {
            builder = builder.allow_unauthenticated();
        }
        let webpki = builder
            .build()
            .map_err(|e| TlsError::new(TlsKey::ClientCa, e.to_string()))?;
        Ok(VerifyingClientCert {
            webpki,
            anchors,
            allowed_sans: sans,
        })
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

/// webpki's verification, plus two things Go does:
///
/// - a certificate listed in the client CA file itself, presented as the client's certificate,
///   is accepted (Go finds it in its root pool: a chain of one). webpki refuses a CA
///   certificate in the end-entity position, so this is checked here, for that exact
///   certificate only (byte for byte), within its validity period and, when it names extended
///   key usages, for client authentication. Nothing else is accepted that webpki refuses.
/// - `client_allowed_sans`: the verified certificate must carry one of them.
#[derive(Debug)]
struct VerifyingClientCert {
    webpki: Arc<dyn ClientCertVerifier>,
    /// The certificates of the client CA file (none for the system trust store).
    anchors: Vec<CertificateDer<'static>>,
    allowed_sans: Option<Vec<String>>,
}

impl VerifyingClientCert {
    fn is_listed_and_valid(&self, end_entity: &CertificateDer<'_>, now: UnixTime) -> bool {
        if !self
            .anchors
            .iter()
            .any(|a| a.as_ref() == end_entity.as_ref())
        {
            return false;
        }
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(end_entity) else {
            return false;
        };
        let Ok(now) = x509_parser::time::ASN1Time::from_timestamp(now.as_secs() as i64) else {
            return false;
        };
        if !cert.validity().is_valid_at(now) {
            return false;
        }
        match cert.extended_key_usage() {
            Ok(None) => true,
            Ok(Some(eku)) => eku.value.any || eku.value.client_auth,
            Err(_) => false,
        }
    }
}

/// Every subject alternative name, written as Go's `x509` package writes them (DNS names,
/// e-mail addresses, IP addresses, URIs), the values `client_allowed_sans` is matched against.
pub fn subject_alt_names(der: &[u8]) -> Result<Vec<String>, String> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| e.to_string())?;
    let Some(san) = cert.subject_alternative_name().map_err(|e| e.to_string())? else {
        return Ok(Vec::new());
    };
    let mut names = Vec::new();
    for name in &san.value.general_names {
        match name {
            GeneralName::DNSName(n) | GeneralName::RFC822Name(n) | GeneralName::URI(n) => {
                names.push(n.to_string())
            }
            GeneralName::IPAddress(bytes) => {
                if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                    names.push(std::net::Ipv4Addr::from(v4).to_string());
                } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                    let v6 = std::net::Ipv6Addr::from(v6);
                    // Go writes an IPv4-mapped address the IPv4 way.
                    names.push(match v6.to_ipv4_mapped() {
                        Some(v4) => v4.to_string(),
                        None => v6.to_string(),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(names)
}

fn refuse(message: String) -> rustls::Error {
    // `Other` is sent as a bad_certificate alert, as Go does for a failed peer check.
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(
        std::io::Error::other(message),
    ))))
}

impl ClientCertVerifier for VerifyingClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.webpki.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.webpki.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if let Err(e) = self
            .webpki
            .verify_client_cert(end_entity, intermediates, now)
        {
            if !self.is_listed_and_valid(end_entity, now) {
                return Err(e);
            }
        }
        if let Some(allowed) = &self.allowed_sans {
            let names = subject_alt_names(end_entity).map_err(refuse)?;
            if !names.iter().any(|n| allowed.contains(n)) {
                return Err(refuse(format!(
                    "the client certificate carries none of client_allowed_sans (it has: {})",
                    names.join(", ")
                )));
            }
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

// ---------------------------------------------------------------------------------------------
// Certificate rotation
// ---------------------------------------------------------------------------------------------

struct Loaded {
    /// Stamps of the files last looked at, whether they loaded or not: a broken rotation is
    /// logged once, not on every connection, and retried as soon as a file changes again.
    seen: [Option<FileStamp>; 3],
    config: Arc<ServerConfig>,
}

/// The server's TLS configuration, rebuilt when the certificate, key or client CA file changes.
pub struct TlsReloader {
    settings: TlsSettings,
    loaded: Mutex<Loaded>,
}

impl TlsReloader {
    pub fn new(settings: TlsSettings) -> Result<TlsReloader, TlsError> {
        let seen = settings.stamps();
        let config = Arc::new(settings.server_config()?);
        Ok(TlsReloader {
            settings,
            loaded: Mutex::new(Loaded { seen, config }),
        })
    }

    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    /// The configuration for a new connection.
    pub fn current(&self) -> Arc<ServerConfig> {
        let stamps = self.settings.stamps();
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if stamps == loaded.seen {
            return loaded.config.clone();
        }
        loaded.seen = stamps;
        match self.settings.server_config() {
            Ok(config) => {
                tracing::info!("TLS files changed: serving the new certificate");
                loaded.config = Arc::new(config);
            }
            Err(e) => {
                tracing::warn!(
                    setting = self.settings.key_name(e.key),
                    error = %e.message,
                    "TLS files changed but cannot be used; keeping the previous certificate"
                );
            }
        }
        loaded.config.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_follow_min_and_max() {
        let names = |min, max| {
            protocol_versions(min, max)
                .iter()
                .map(|v| format!("{:?}", v.version))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(12, 13), ["TLSv1_2", "TLSv1_3"]);
        assert_eq!(names(10, 13), ["TLSv1_2", "TLSv1_3"]);
        assert_eq!(names(12, 12), ["TLSv1_2"]);
        assert_eq!(names(11, 12), ["TLSv1_2"]);
        assert_eq!(names(13, 13), ["TLSv1_3"]);
    }

    #[test]
    fn go_suite_names() {
        assert!(matches!(
            cipher_suite("TLS_AES_128_GCM_SHA256"),
            SuiteName::Tls13
        ));
        assert!(matches!(
            cipher_suite("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
            SuiteName::Tls12(_)
        ));
        assert!(matches!(
            cipher_suite("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
            SuiteName::NotImplemented
        ));
        assert!(matches!(
            cipher_suite("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA2048"),
            SuiteName::Unknown
        ));
        assert_eq!(tls12_suites().count(), 6);
    }

    #[test]
    fn sans_as_go_writes_them() {
        let mut params = rcgen::CertificateParams::new(vec![
            "test3".to_string(),
            "10.0.0.1".to_string(),
            "::1".to_string(),
        ])
        .expect("params");
        params.subject_alt_names.push(rcgen::SanType::Rfc822Name(
            "ops@example.net".try_into().expect("email"),
        ));
        params.subject_alt_names.push(rcgen::SanType::URI(
            "spiffe://example.net/prometheus".try_into().expect("uri"),
        ));
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("cert");
        assert_eq!(
            subject_alt_names(cert.der()).expect("parse"),
            [
                "test3",
                "10.0.0.1",
                "::1",
                "ops@example.net",
                "spiffe://example.net/prometheus"
            ]
        );
    }
}
