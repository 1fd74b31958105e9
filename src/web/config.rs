//! The web configuration file's schema and checks: the keys of prometheus/exporter-toolkit
//! (`tls_server_config`, `http_server_config`, `basic_auth_users`, `rate_limit`), so that one
//! file can serve every Prometheus component on a host.
//!
//! A file is checked completely, certificates and keys included, before it is used: a bad file
//! is a configuration error with its line and key, never a server that runs without the
//! protection it was asked for. Where exporter-toolkit accepts a setting that would protect
//! nothing here (a SAN list without certificate verification), this refuses it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use rustls::crypto::{ring as ring_provider, SupportedKxGroup};
use rustls::SupportedCipherSuite;
use serde::Deserialize;
use serde_saphyr::Spanned;

use super::tls::{
    self, ClientAuth, CurveName, Pem, SuiteName, TlsKey, TlsReloader, TlsSettings, AVAILABLE_CURVES,
};
use crate::yaml::{self, location, ConfigError};

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

/// The suites HTTP/2 requires (RFC 9113 §9.2.2), which Go insists on when a TLS 1.2 suite list
/// is given and HTTP/2 is on.
const HTTP2_REQUIRED_SUITES: [&str; 2] = [
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
];

/// One checked web configuration.
pub struct WebSettings {
    /// `None`: plain HTTP.
    pub tls: Option<Arc<TlsReloader>>,
    /// Added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// User name → bcrypt hash. Empty: no authentication.
    pub basic_auth_users: BTreeMap<String, String>,
    pub rate_limit: Option<RateLimit>,
}

/// exporter-toolkit's `rate_limit`: a token bucket for the whole server, one token every
/// `interval`, holding at most `burst` (and full at start). With `burst: 0` no request ever
/// gets a token: every answer is 429, as in exporter-toolkit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub interval: Duration,
    pub burst: u32,
}

impl WebSettings {
    /// Parses and checks web configuration text; relative file names are relative to the
    /// directory of `path`, as in exporter-toolkit.
    pub fn parse(path: &Path, text: &str) -> Result<WebSettings, ConfigError> {
        // An empty file (or one with only comments) is valid and changes nothing, as in
        // exporter-toolkit.
        let raw: RawWebConfig = if text.lines().all(|l| {
            let l = l.trim();
            l.is_empty() || l.starts_with('#') || l == "---"
        }) {
            RawWebConfig::default()
        } else {
            yaml::parse(path, text)?
        };
        Checker { file: path }.check(raw)
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
    rate_limit: Option<RawRateLimit>,
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    interval: Option<S<RawInterval>>,
    burst: Option<S<i64>>,
}

/// A duration (`1s`, `500ms`, `1m30s`), or the number 0 that exporter-toolkit's own test files
/// use for "off".
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawInterval {
    Number(i64),
    Text(String),
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

struct Checker<'a> {
    file: &'a Path,
}

impl Checker<'_> {
    fn err<T>(&self, at: Option<&S<T>>, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::at(self.file, at.map(location), key, message)
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

    fn check(&self, raw: RawWebConfig) -> Result<WebSettings, ConfigError> {
        let rate_limit = match &raw.rate_limit {
            Some(r) => self.rate_limit(r)?,
            None => None,
        };
        let basic_auth_users = self.users(&raw.basic_auth_users)?;
        let http = raw.http_server_config.unwrap_or_default();
        let headers = self.headers(&http.headers)?;
        // exporter-toolkit's default is HTTP/2 on.
        let http2 = http.http2.unwrap_or(true);
        let tls = match raw.tls_server_config {
            Some(t) => self.tls(t, http2)?,
            None => None,
        };
        Ok(WebSettings {
            tls,
            headers,
            basic_auth_users,
            rate_limit,
        })
    }

    fn rate_limit(&self, raw: &RawRateLimit) -> Result<Option<RateLimit>, ConfigError> {
        let burst = match &raw.burst {
            None => 0,
            Some(b) => u32::try_from(b.value).map_err(|_| {
                self.err(
                    Some(b),
                    "rate_limit.burst",
                    "must be a whole number, 0 or more",
                )
            })?,
        };
        let interval = match &raw.interval {
            None => Duration::ZERO,
            Some(i) => match &i.value {
                RawInterval::Number(0) => Duration::ZERO,
                RawInterval::Number(_) => {
                    return Err(self.err(
                        Some(i),
                        "rate_limit.interval",
                        "a duration needs a unit, e.g. 1s or 500ms (0 turns the limit off)",
                    ))
                }
                RawInterval::Text(text) if text == "0" => Duration::ZERO,
                RawInterval::Text(text) => crate::duration::parse_duration(text)
                    .map_err(|e| self.err(Some(i), "rate_limit.interval", e))?,
            },
        };
        if interval.is_zero() {
            // exporter-toolkit: an interval of 0 means no limit, whatever the burst.
            return Ok(None);
        }
        if burst == 0 {
            tracing::warn!(
                "rate_limit.burst is 0: every request is answered 429 Too Many Requests, as in exporter-toolkit; set a burst of 1 or more"
            );
        }
        Ok(Some(RateLimit { interval, burst }))
    }

    fn users(
        &self,
        raw: &BTreeMap<String, S<String>>,
    ) -> Result<BTreeMap<String, String>, ConfigError> {
        let mut users = BTreeMap::new();
        for (user, hash) in raw {
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
            users.insert(user.clone(), hash.value.clone());
        }
        Ok(users)
    }

    fn headers(
        &self,
        raw: &BTreeMap<String, S<String>>,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, ConfigError> {
        let mut headers = Vec::new();
        for (name, value) in raw {
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
        Ok(headers)
    }

    fn tls(&self, raw: RawTls, http2: bool) -> Result<Option<Arc<TlsReloader>>, ConfigError> {
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
        // exporter-toolkit serves plain HTTP when only versions, suites or curves are set; a
        // TLS section without a certificate is a mistake worth stopping for.
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
        if let Some(sans) = &t.client_allowed_sans {
            // exporter-toolkit ignores the list under NoClientCert and matches it against
            // certificates nobody verified under the other two types: both protect nothing.
            if !client_auth.verifies() {
                return Err(self.err(
                    Some(sans),
                    "tls_server_config.client_allowed_sans",
                    format!(
                        "needs client_auth_type RequireAndVerifyClientCert (or VerifyClientCertIfGiven), not {client_auth:?}: only a verified certificate's names mean anything"
                    ),
                ));
            }
            if sans.value.is_empty() {
                return Err(self.err(
                    Some(sans),
                    "tls_server_config.client_allowed_sans",
                    "must list at least one name",
                ));
            }
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
        let versions = tls::protocol_versions(min, max);

        let mut provider = ring_provider::default_provider();
        if let Some(names) = t.cipher_suites.as_ref().filter(|n| !n.is_empty()) {
            let tls12 = self.cipher_suites(names, max >= 12 && min <= 12)?;
            if http2 && min < 13 {
                self.http2_suites(names)?;
            }
            provider.cipher_suites = tls::cipher_suites(&tls12);
        }
        if let Some(names) = t.curve_preferences.as_ref().filter(|n| !n.is_empty()) {
            provider.kx_groups = self.curves(names)?;
        }
        let settings = TlsSettings {
            cert,
            key,
            client_ca,
            client_auth,
            versions,
            provider: Arc::new(provider),
            // exporter-toolkit defaults to the server's order.
            ignore_client_order: t.prefer_server_cipher_suites.unwrap_or(true),
            client_allowed_sans: t.client_allowed_sans.as_ref().map(|s| s.value.clone()),
        };
        // Loading the files now turns a missing or mismatched certificate into an error with a
        // line number, not a failed handshake later.
        let key_names = [
            TlsKey::Cert,
            TlsKey::Key,
            TlsKey::ClientCa,
            TlsKey::Protocol,
        ]
        .map(|k| (k, settings.key_name(k)));
        let reloader = TlsReloader::new(settings).map_err(|e| {
            let at = match e.key {
                TlsKey::Cert => t.cert.as_ref().or(t.cert_file.as_ref()),
                TlsKey::Key => t.key.as_ref().or(t.key_file.as_ref()),
                // Without a client CA, the system trust store: point at the type.
                TlsKey::ClientCa => ca_at.or(t.client_auth_type.as_ref()),
                TlsKey::Protocol => None,
            };
            let key = key_names
                .iter()
                .find(|(k, _)| *k == e.key)
                .map_or("tls_server_config", |(_, n)| n);
            self.err(at, key, e.message)
        })?;
        Ok(Some(Arc::new(reloader)))
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

    /// The listed TLS 1.2 suites that rustls implements, in the order given. Suites Go knows
    /// and rustls does not (CBC, RSA key exchange) are left out with a warning, as long as one
    /// listed TLS 1.2 suite remains: leaving out a suite only narrows what is offered.
    fn cipher_suites(
        &self,
        names: &[S<String>],
        tls12_enabled: bool,
    ) -> Result<Vec<SupportedCipherSuite>, ConfigError> {
        let mut suites: Vec<SupportedCipherSuite> = Vec::new();
        let mut left_out: Vec<&str> = Vec::new();
        for name in names {
            match tls::cipher_suite(&name.value) {
                SuiteName::Tls13 => {}
                SuiteName::Tls12(s) if !suites.contains(&s) => suites.push(s),
                SuiteName::Tls12(_) => {}
                SuiteName::NotImplemented => left_out.push(&name.value),
                SuiteName::Unknown => {
                    return Err(self.err(
                        Some(name),
                        "tls_server_config.cipher_suites",
                        format!(
                            "unknown cipher suite {:?}; available: {}",
                            name.value,
                            tls::tls12_suite_names()
                        ),
                    ))
                }
            }
        }
        if !left_out.is_empty() {
            if suites.is_empty() && tls12_enabled {
                return Err(self.err(
                    names.first(),
                    "tls_server_config.cipher_suites",
                    format!(
                        "{} not implemented by rustls (no CBC or RSA key exchange suites), and no other TLS 1.2 suite is listed; available: {}",
                        left_out.join(", "),
                        tls::tls12_suite_names()
                    ),
                ));
            }
            tracing::warn!(
                setting = "tls_server_config.cipher_suites",
                left_out = %left_out.join(", "),
                "cipher suites not implemented by rustls (CBC, RSA key exchange) are left out; the others are offered"
            );
        }
        Ok(suites)
    }

    /// Go refuses to serve HTTP/2 (on by default in exporter-toolkit) with a TLS 1.2 suite list
    /// that lacks the suite HTTP/2 requires. This exporter serves HTTP/1.1 only, but refuses
    /// the same file so that it means the same here as in every other exporter.
    fn http2_suites(&self, names: &[S<String>]) -> Result<(), ConfigError> {
        if names
            .iter()
            .any(|n| HTTP2_REQUIRED_SUITES.contains(&n.value.as_str()))
        {
            return Ok(());
        }
        Err(self.err(
            names.first(),
            "tls_server_config.cipher_suites",
            format!(
                "missing an HTTP/2-required AES_128_GCM_SHA256 cipher (need at least one of {}), as in exporter-toolkit; or set http_server_config.http2: false",
                HTTP2_REQUIRED_SUITES.join(" or ")
            ),
        ))
    }

    /// The listed curves that the ring provider implements, in order; CurveP521 is left out
    /// with a warning as long as another listed curve remains.
    fn curves(
        &self,
        names: &[S<String>],
    ) -> Result<Vec<&'static dyn SupportedKxGroup>, ConfigError> {
        let mut groups: Vec<&'static dyn SupportedKxGroup> = Vec::new();
        let mut left_out: Vec<&str> = Vec::new();
        for name in names {
            match tls::curve(&name.value) {
                CurveName::Available(group) => {
                    if !groups.iter().any(|g| g.name() == group.name()) {
                        groups.push(group);
                    }
                }
                CurveName::NotImplemented => left_out.push(&name.value),
                CurveName::Unknown => {
                    return Err(self.err(
                        Some(name),
                        "tls_server_config.curve_preferences",
                        format!(
                            "unknown curve {:?}; available: {AVAILABLE_CURVES}",
                            name.value
                        ),
                    ))
                }
            }
        }
        if !left_out.is_empty() {
            if groups.is_empty() {
                return Err(self.err(
                    names.first(),
                    "tls_server_config.curve_preferences",
                    format!(
                        "{} not implemented by rustls with the ring provider, and no other curve is listed; available: {AVAILABLE_CURVES}",
                        left_out.join(", ")
                    ),
                ));
            }
            tracing::warn!(
                setting = "tls_server_config.curve_preferences",
                left_out = %left_out.join(", "),
                "curves not implemented by rustls with the ring provider are left out; the others are offered"
            );
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

    fn parse_in(dir: &Path, text: &str) -> Result<WebSettings, ConfigError> {
        WebSettings::parse(&dir.join("web.yml"), text)
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
            assert!(web.rate_limit.is_none());
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
        assert_eq!(
            tls.settings().client_auth,
            ClientAuth::RequireAndVerifyClientCert
        );
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
                "web.yml:4:19: tls_server_config.cipher_suites: TLS_RSA_WITH_AES_128_CBC_SHA not implemented by rustls (no CBC or RSA key exchange suites), and no other TLS 1.2 suite is listed; available: TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,",
            ),
            (
                "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  curve_preferences: [CurveP521]\n".into(),
                "web.yml:4:23: tls_server_config.curve_preferences: CurveP521 not implemented by rustls with the ring provider, and no other curve is listed; available: X25519, CurveP256, CurveP384",
            ),
            (
                "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  client_allowed_sans: [a]\n".into(),
                "web.yml:4:24: tls_server_config.client_allowed_sans: needs client_auth_type RequireAndVerifyClientCert (or VerifyClientCertIfGiven), not NoClientCert",
            ),
            (
                "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: [a]\n".into(),
                "web.yml:5:24: tls_server_config.client_allowed_sans: needs client_auth_type RequireAndVerifyClientCert (or VerifyClientCertIfGiven), not RequireAnyClientCert",
            ),
            (
                "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  client_allowed_sans: []\n".into(),
                "web.yml:6:24: tls_server_config.client_allowed_sans: must list at least one name",
            ),
            (
                "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA2048]\n".into(),
                "web.yml:4:19: tls_server_config.cipher_suites: unknown cipher suite \"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA2048\"",
            ),
            (
                "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]\n".into(),
                "web.yml:4:19: tls_server_config.cipher_suites: missing an HTTP/2-required AES_128_GCM_SHA256 cipher",
            ),
            (
                "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  curve_preferences: [CurveP257]\n".into(),
                "web.yml:4:23: tls_server_config.curve_preferences: unknown curve \"CurveP257\"",
            ),
            (
                "rate_limit:\n  interval: 1\n".into(),
                "web.yml:2:13: rate_limit.interval: a duration needs a unit",
            ),
            (
                "rate_limit:\n  interval: 1 second\n".into(),
                "web.yml:2:13: rate_limit.interval: invalid duration",
            ),
            (
                "rate_limit:\n  interval: 1s\n  burst: -1\n".into(),
                "web.yml:3:10: rate_limit.burst: must be a whole number, 0 or more",
            ),
            (
                "rate_limit:\n  every: 1s\n".into(),
                "web.yml:2:3: rate_limit.every: unknown field `every`",
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
    fn what_rustls_lacks_is_left_out_when_something_else_remains() {
        let dir = tls_dir();
        let web = parse_in(
            dir.path(),
            "tls_server_config:
  cert_file: cert.pem
  key_file: key.pem
  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]
  curve_preferences: [CurveP521, CurveP384]
  max_version: TLS12
",
        )
        .expect("valid");
        let tls = web.tls.expect("tls");
        let provider = &tls.settings().provider;
        let suites: Vec<_> = provider
            .cipher_suites
            .iter()
            .filter_map(|s| s.suite().as_str())
            .collect();
        assert_eq!(
            suites,
            [
                "TLS13_AES_256_GCM_SHA384",
                "TLS13_AES_128_GCM_SHA256",
                "TLS13_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
            ]
        );
        let groups: Vec<_> = provider.kx_groups.iter().map(|g| g.name()).collect();
        assert_eq!(groups, [rustls::NamedGroup::secp384r1]);
        assert_eq!(tls.settings().versions, [&rustls::version::TLS12]);
    }

    #[test]
    fn verifying_without_a_client_ca_uses_the_system_store_and_sans_need_verification() {
        let dir = tls_dir();
        for auth in ["VerifyClientCertIfGiven", "RequireAndVerifyClientCert"] {
            let web = parse_in(
                dir.path(),
                &format!(
                    "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  client_auth_type: {auth}\n  client_allowed_sans: [prometheus.example.net]\n"
                ),
            )
            .expect("valid");
            let tls = web.tls.expect("tls");
            assert!(tls.settings().client_ca.is_none());
            assert_eq!(
                tls.settings().client_allowed_sans.as_deref(),
                Some(&["prometheus.example.net".to_string()][..])
            );
        }
    }

    #[test]
    fn rate_limits() {
        let dir = tls_dir();
        let limit = |text: &str| parse_in(dir.path(), text).expect("valid").rate_limit;
        assert_eq!(limit("rate_limit:\n  interval: 0\n  burst: 0\n"), None);
        assert_eq!(limit("rate_limit:\n  interval: \"0\"\n  burst: 5\n"), None);
        assert_eq!(limit("rate_limit: {}\n"), None);
        assert_eq!(
            limit("rate_limit:\n  interval: \"1s\"\n  burst: 0\n"),
            Some(RateLimit {
                interval: Duration::from_secs(1),
                burst: 0
            })
        );
        assert_eq!(
            limit("rate_limit:\n  interval: 1m30s\n  burst: 20\n"),
            Some(RateLimit {
                interval: Duration::from_secs(90),
                burst: 20
            })
        );
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
