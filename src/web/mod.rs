//! The web configuration (`--web.config.file`) and the HTTP server's protection:
//!
//! - `config`: the exporter-toolkit schema and its checks;
//! - `tls`: rustls, client-certificate verification, certificate files re-read on change;
//! - `basic_auth`: bcrypt checks, their cache and their queueing;
//! - `middleware`: rate limit, basic authentication and response headers on every request;
//! - `listener`: accepting connections, TLS handshakes, limits on slow and numerous clients.
//!
//! [`WebConfig`] is the file in force. exporter-toolkit reads the file again for every
//! request; this reads it again when it changed (its modification time, size or inode, looked
//! up on every request and connection: one `stat`), so adding a user, changing headers, limits
//! or TLS settings takes effect without a restart. A changed file that does not parse or fails
//! its checks keeps the previous settings, is logged once, and shows as 0 in
//! `patchlag_web_config_last_reload_successful`. Whether the server speaks TLS at all is fixed
//! at start: a file that would turn it on or off is refused the same way.

pub mod basic_auth;
pub mod config;
pub mod listener;
pub mod middleware;
pub mod tls;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::clock::wall_clock;
use crate::metrics::ReloadStatus;
use crate::yaml::{self, ConfigError};

pub use config::{RateLimit, WebSettings};
pub use middleware::layer;

/// What tells a replaced file from the one in use. The inode catches a file renamed into place
/// with an older modification time (`mv`, Kubernetes secret volumes switching a symlink).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
    device: u64,
}

impl FileStamp {
    pub fn of(path: &Path) -> Option<FileStamp> {
        let meta = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            inode: meta.ino(),
            device: meta.dev(),
        })
    }
}

/// One web configuration ready to serve: its checked settings and the state that lives as
/// long as they do.
pub struct Active {
    pub settings: WebSettings,
    pub basic_auth: Option<Arc<basic_auth::BasicAuth>>,
    pub rate_limiter: Option<Arc<middleware::RateLimiter>>,
}

impl Active {
    /// Keeps the bcrypt cache and the rate limit's bucket of `previous` when the users and the
    /// limit did not change.
    fn new(settings: WebSettings, previous: Option<&Active>) -> Active {
        let basic_auth = match previous.and_then(|p| p.basic_auth.as_ref()) {
            Some(auth) if auth.has_users(&settings.basic_auth_users) => Some(auth.clone()),
            _ => basic_auth::BasicAuth::new(settings.basic_auth_users.clone()).map(Arc::new),
        };
        let rate_limiter = match (
            settings.rate_limit,
            previous.and_then(|p| p.rate_limiter.as_ref()),
        ) {
            (Some(limit), Some(limiter)) if limiter.limit() == limit => Some(limiter.clone()),
            (Some(limit), _) => Some(Arc::new(middleware::RateLimiter::new(limit))),
            (None, _) => None,
        };
        Active {
            settings,
            basic_auth,
            rate_limiter,
        }
    }
}

struct Live {
    /// Of the file last looked at, whether it loaded or not: a broken file is logged once,
    /// and read again as soon as it changes.
    seen: Option<FileStamp>,
    /// SHA-256 of the text in force: rewriting the same text is no reload.
    checksum: [u8; 32],
    active: Arc<Active>,
}

/// The web configuration file in force.
pub struct WebConfig {
    pub file: PathBuf,
    serves_tls: bool,
    live: Mutex<Live>,
    status: Mutex<ReloadStatus>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn checksum(text: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    let mut sum = [0u8; 32];
    sum.copy_from_slice(digest.as_ref());
    sum
}

fn read(path: &Path) -> Result<String, ConfigError> {
    yaml::read(path, "web configuration")
}

impl WebConfig {
    /// Reads and checks the file, certificates and keys included.
    pub fn load(path: &Path) -> Result<WebConfig, ConfigError> {
        let seen = FileStamp::of(path);
        let text = read(path)?;
        let settings = WebSettings::parse(path, &text)?;
        Ok(WebConfig {
            file: path.to_path_buf(),
            serves_tls: settings.tls.is_some(),
            live: Mutex::new(Live {
                seen,
                checksum: checksum(&text),
                active: Arc::new(Active::new(settings, None)),
            }),
            // Loading the file at start counts as the first successful reload.
            status: Mutex::new(ReloadStatus {
                successful: true,
                last_success: wall_clock(),
            }),
        })
    }

    /// Whether the listener speaks TLS (fixed at start).
    pub fn serves_tls(&self) -> bool {
        self.serves_tls
    }

    pub fn reload_status(&self) -> ReloadStatus {
        *lock(&self.status)
    }

    /// The configuration in force, read again first if the file changed.
    ///
    /// A reload reads a small file and, with TLS, the certificate files, while holding the
    /// lock: requests that arrive meanwhile wait those few milliseconds, once per change.
    pub fn current(&self) -> Arc<Active> {
        let stamp = FileStamp::of(&self.file);
        let mut live = lock(&self.live);
        if stamp == live.seen {
            return live.active.clone();
        }
        live.seen = stamp;
        match self.reread(&live) {
            Ok(None) => self.succeeded(),
            Ok(Some((sum, active))) => {
                live.checksum = sum;
                live.active = Arc::new(active);
                self.succeeded();
                tracing::info!(file = %self.file.display(), "web configuration reloaded");
            }
            Err(e) => {
                lock(&self.status).successful = false;
                tracing::error!(
                    error = %e,
                    "web configuration reload failed; keeping the previous web configuration"
                );
            }
        }
        live.active.clone()
    }

    fn succeeded(&self) {
        *lock(&self.status) = ReloadStatus {
            successful: true,
            last_success: wall_clock(),
        };
    }

    /// `None`: the same text as the one in force.
    fn reread(&self, live: &Live) -> Result<Option<([u8; 32], Active)>, ConfigError> {
        let text = read(&self.file)?;
        let sum = checksum(&text);
        if sum == live.checksum {
            return Ok(None);
        }
        let settings = WebSettings::parse(&self.file, &text)?;
        if settings.tls.is_some() != self.serves_tls {
            return Err(ConfigError::at(
                &self.file,
                None,
                "tls_server_config",
                format!(
                    "turning TLS {} takes a restart",
                    if self.serves_tls { "off" } else { "on" }
                ),
            ));
        }
        Ok(Some((sum, Active::new(settings, Some(&live.active)))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        // A new inode each time: a rewrite within the file system's time resolution is still
        // seen.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text).expect("write");
        std::fs::rename(&tmp, path).expect("rename");
    }

    #[test]
    fn changes_apply_and_bad_files_keep_the_previous_settings() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("web.yml");
        let hash = bcrypt::hash("pw", 4).expect("hash");
        write(&file, "");
        let web = WebConfig::load(&file).expect("valid");
        let first = web.current();
        assert!(first.basic_auth.is_none());
        assert!(Arc::ptr_eq(&first, &web.current()), "unchanged file");

        write(&file, &format!("basic_auth_users:\n  alice: '{hash}'\n"));
        let second = web.current();
        let auth = second.basic_auth.clone().expect("users now");
        assert!(web.reload_status().successful);

        // Broken: the previous settings stay, the status says so, until the file changes.
        write(&file, "basic_auth_users: [\n");
        assert!(Arc::ptr_eq(&second, &web.current()));
        assert!(!web.reload_status().successful);
        assert!(Arc::ptr_eq(&second, &web.current()));

        // Fixed, with a rate limit added: the users (and their cache) are kept.
        write(
            &file,
            &format!(
                "basic_auth_users:\n  alice: '{hash}'\nrate_limit:\n  interval: 1s\n  burst: 2\n"
            ),
        );
        let third = web.current();
        assert!(web.reload_status().successful);
        assert!(Arc::ptr_eq(
            third.basic_auth.as_ref().expect("users"),
            &auth
        ));
        assert_eq!(
            third.rate_limiter.as_ref().expect("limit").limit(),
            RateLimit {
                interval: std::time::Duration::from_secs(1),
                burst: 2
            }
        );

        // Turning TLS on needs a restart.
        write(
            &file,
            "tls_server_config:\n  cert_file: a.pem\n  key_file: b.pem\n",
        );
        assert!(Arc::ptr_eq(&third, &web.current()));
        assert!(!web.reload_status().successful);

        // A file that disappears keeps the configuration in use.
        std::fs::remove_file(&file).expect("remove");
        assert!(Arc::ptr_eq(&third, &web.current()));
    }
}
