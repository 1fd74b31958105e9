//! The running exporter's shared state: configuration, store, snapshot, readiness, reloads.
//!
//! Concurrency model: one poller task per source writes to the store (one transaction per
//! poll) and says so on a channel; one task of the app takes what arrived, rebuilds the
//! snapshot once for the whole batch, publishes it, and only then counts those sources as
//! polled for `/-/ready` (so that, once ready, what `/metrics` shows includes their polls).
//! HTTP handlers only clone an `Arc` of the current snapshot. Snapshot rebuilds are serialized
//! so that a slow rebuild cannot overwrite a newer one; reloads are serialized so that two
//! concurrent reloads cannot interleave.
//!
//! A reload validates the whole file before anything changes, then swaps the configuration in
//! one step. Pollers are reconciled by source: a removed source's poller stops, an added one
//! starts (and `/-/ready` waits for its first poll), a changed one restarts, and an unchanged
//! one keeps running on its schedule. A file whose checksum equals that of the running
//! configuration is not even parsed again, as in blackbox_exporter. The store is never touched:
//! history of removed sources stays and reappears if they come back.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;

use crate::clock::{wall_clock, Clock};
use crate::config::{Config, SourceConfig};
use crate::metrics::ReloadStatus;
use crate::poller::{self, Poller};
use crate::snapshot::Snapshot;
use crate::sources::Role;
use crate::store::Store;
use crate::yaml::{self, ConfigError};

/// SHA-256 of a configuration file's bytes.
pub type Checksum = [u8; 32];

/// A validated configuration and the checksum of the text it was read from.
pub struct LoadedConfig {
    pub config: Config,
    pub checksum: Checksum,
}

impl LoadedConfig {
    /// Reads the file once, so the checksum is that of exactly the text validated.
    pub fn read(path: &Path) -> Result<LoadedConfig, ConfigError> {
        let text = yaml::read(path, "configuration")?;
        LoadedConfig::parse(path, &text)
    }

    fn parse(path: &Path, text: &str) -> Result<LoadedConfig, ConfigError> {
        Ok(LoadedConfig {
            config: Config::parse(path, text)?,
            checksum: checksum(text.as_bytes()),
        })
    }

    /// `None` when the file's checksum is `running`: nothing to parse, nothing to change.
    fn read_if_changed(
        path: &Path,
        running: &Checksum,
    ) -> Result<Option<LoadedConfig>, ConfigError> {
        let text = yaml::read(path, "configuration")?;
        if checksum(text.as_bytes()) == *running {
            return Ok(None);
        }
        LoadedConfig::parse(path, &text).map(Some)
    }
}

fn checksum(bytes: &[u8]) -> Checksum {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}

/// What a successful reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadOutcome {
    Applied,
    /// The file has the checksum of the running configuration.
    Unchanged,
}

/// Everything a source's poller was started with. A reload keeps the poller (and its schedule)
/// exactly when this is unchanged.
///
/// `SourceConfig` holds compiled regexes and JSONPaths, which cannot be compared; their `Debug`
/// form shows their source text, so within one process two renderings are equal exactly when
/// the settings are. Only a digest is kept: the rendering includes header values. A release
/// source also filters records by the configured tier names.
#[derive(PartialEq, Eq)]
struct PollerKey(Checksum);

impl PollerKey {
    fn of(config: &Config, source: &SourceConfig) -> PollerKey {
        let mut rendering = format!("{source:?}");
        if source.role == Role::Releases {
            rendering.push_str(&format!("{:?}", config.tier_names()));
        }
        PollerKey(checksum(rendering.as_bytes()))
    }
}

struct RunningPoller {
    key: PollerKey,
    handle: JoinHandle<()>,
}

pub struct App {
    store: Arc<Store>,
    pub clock: Clock,
    config_path: PathBuf,
    config: RwLock<Arc<Config>>,
    /// Of the file the running configuration was read from.
    checksum: Mutex<Checksum>,
    snapshot: RwLock<Arc<Snapshot>>,
    reload_status: Mutex<ReloadStatus>,
    reload_lock: tokio::sync::Mutex<()>,
    refresh_lock: tokio::sync::Mutex<()>,
    /// By source name.
    pollers: Mutex<BTreeMap<String, RunningPoller>>,
    /// Where pollers say a poll is done; the app's publishing task takes it at start.
    polls_done: UnboundedSender<String>,
    polls_to_publish: Mutex<Option<UnboundedReceiver<String>>>,
    publisher: Mutex<Option<JoinHandle<()>>>,
    /// Sources whose first poll (success or failure) has completed since start.
    polled: Mutex<HashSet<String>>,
}

fn read<T: Clone>(lock: &RwLock<T>) -> T {
    lock.read().unwrap_or_else(|p| p.into_inner()).clone()
}

fn write<T>(lock: &RwLock<T>, value: T) {
    *lock.write().unwrap_or_else(|p| p.into_inner()) = value;
}

impl App {
    pub fn new(
        loaded: LoadedConfig,
        config_path: PathBuf,
        store: Store,
        clock: Clock,
    ) -> Result<Arc<App>, String> {
        let config = Arc::new(loaded.config);
        let snapshot = Snapshot::load(config.clone(), &store).map_err(|e| e.to_string())?;
        let (polls_done, polls_to_publish) = mpsc::unbounded_channel();
        Ok(Arc::new(App {
            store: Arc::new(store),
            clock,
            config_path,
            config: RwLock::new(config),
            checksum: Mutex::new(loaded.checksum),
            snapshot: RwLock::new(Arc::new(snapshot)),
            // Loading the configuration at start counts as the first successful reload.
            reload_status: Mutex::new(ReloadStatus {
                successful: true,
                last_success: wall_clock(),
            }),
            reload_lock: tokio::sync::Mutex::new(()),
            refresh_lock: tokio::sync::Mutex::new(()),
            pollers: Mutex::new(BTreeMap::new()),
            polls_done,
            polls_to_publish: Mutex::new(Some(polls_to_publish)),
            publisher: Mutex::new(None),
            polled: Mutex::new(HashSet::new()),
        }))
    }

    pub fn config(&self) -> Arc<Config> {
        read(&self.config)
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        read(&self.snapshot)
    }

    pub fn reload_status(&self) -> ReloadStatus {
        *self.reload_status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts one poller per configured source, and the task that publishes their polls.
    pub fn start_pollers(self: &Arc<Self>) {
        let polls = self
            .polls_to_publish
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(polls) = polls {
            let publisher = tokio::spawn(self.clone().publish_polls(polls));
            *self.publisher.lock().unwrap_or_else(|p| p.into_inner()) = Some(publisher);
        }
        self.sync_pollers(&self.config());
    }

    pub fn stop_pollers(&self) {
        let mut pollers = self.pollers.lock().unwrap_or_else(|p| p.into_inner());
        for (_, poller) in std::mem::take(&mut *pollers) {
            poller.handle.abort();
        }
        if let Some(publisher) = self
            .publisher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            publisher.abort();
        }
    }

    /// For each batch of finished polls (those that arrived while the last batch was being
    /// published), one new snapshot; then the sources count as polled.
    async fn publish_polls(self: Arc<Self>, mut polls: UnboundedReceiver<String>) {
        while let Some(first) = polls.recv().await {
            let mut batch = vec![first];
            while let Ok(next) = polls.try_recv() {
                batch.push(next);
            }
            if let Err(e) = self.refresh().await {
                tracing::error!(error = %e, "cannot refresh the snapshot");
            }
            for source in &batch {
                self.mark_polled(source);
            }
        }
    }

    /// Makes the running pollers match `config`: stops those of removed and changed sources,
    /// starts those of added and changed ones, leaves the others alone.
    fn sync_pollers(self: &Arc<Self>, config: &Arc<Config>) -> PollerChanges {
        let mut changes = PollerChanges::default();
        let mut pollers = self.pollers.lock().unwrap_or_else(|p| p.into_inner());
        pollers.retain(|name, poller| {
            let keep = config
                .source(name)
                .is_some_and(|s| PollerKey::of(config, s) == poller.key);
            if !keep {
                poller.handle.abort();
                if config.source(name).is_some() {
                    changes.restarted.push(name.clone());
                } else {
                    changes.removed.push(name.clone());
                }
            }
            keep
        });
        let tier_names = Arc::new(config.tier_names());
        for source in &config.sources {
            if pollers.contains_key(&source.name) {
                changes.kept += 1;
                continue;
            }
            if !changes.restarted.contains(&source.name) {
                changes.added.push(source.name.clone());
            }
            let handle = tokio::spawn(poller::run(Poller {
                store: self.store.clone(),
                clock: self.clock,
                source: source.clone(),
                tier_names: tier_names.clone(),
                polled: self.polls_done.clone(),
            }));
            pollers.insert(
                source.name.clone(),
                RunningPoller {
                    key: PollerKey::of(config, source),
                    handle,
                },
            );
        }
        // A source that comes back must complete a poll again before `/-/ready` says so.
        self.polled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|name| config.source(name).is_some());
        changes
    }

    fn mark_polled(&self, source: &str) {
        self.polled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(source.to_string());
    }

    /// Sources still waiting for their first poll; empty when ready.
    pub fn not_ready(&self) -> Vec<String> {
        let polled = self.polled.lock().unwrap_or_else(|p| p.into_inner());
        self.config()
            .sources
            .iter()
            .filter(|s| !polled.contains(&s.name))
            .map(|s| s.name.clone())
            .collect()
    }

    /// Re-reads the store and publishes a new snapshot.
    async fn refresh(&self) -> Result<(), String> {
        let _guard = self.refresh_lock.lock().await;
        let store = self.store.clone();
        let config = self.config();
        let snapshot = tokio::task::spawn_blocking(move || Snapshot::load(config, &store))
            .await
            .map_err(|e| format!("store read task failed: {e}"))?
            .map_err(|e| e.to_string())?;
        write(&self.snapshot, Arc::new(snapshot));
        crate::memory::release_free_memory();
        Ok(())
    }

    /// Re-reads the configuration file; on error the running configuration stays, pollers and
    /// all. Runs to completion even if the caller goes away (an HTTP client hanging up), so a
    /// reload is never left half-applied.
    pub async fn reload(self: &Arc<Self>) -> Result<ReloadOutcome, String> {
        let app = self.clone();
        tokio::spawn(async move { app.reload_now().await })
            .await
            .map_err(|e| format!("reload task failed: {e}"))?
    }

    async fn reload_now(self: &Arc<Self>) -> Result<ReloadOutcome, String> {
        let _guard = self.reload_lock.lock().await;
        let path = self.config_path.clone();
        let running = *self.checksum.lock().unwrap_or_else(|p| p.into_inner());
        let read =
            tokio::task::spawn_blocking(move || LoadedConfig::read_if_changed(&path, &running))
                .await
                .map_err(|e| format!("reload task failed: {e}"));
        let loaded = match read.and_then(|r| r.map_err(|e| e.to_string())) {
            Ok(Some(loaded)) => loaded,
            Ok(None) => {
                self.reload_succeeded();
                tracing::info!(file = %self.config_path.display(), "configuration unchanged");
                return Ok(ReloadOutcome::Unchanged);
            }
            Err(e) => {
                self.reload_status
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .successful = false;
                tracing::error!(error = %e, "configuration reload failed; keeping the running configuration");
                return Err(e);
            }
        };
        let old = self.config();
        if loaded.config.storage_path != old.storage_path {
            tracing::warn!("storage.path changed: the new database is used after a restart");
        }
        let config = Arc::new(loaded.config);
        write(&self.config, config.clone());
        *self.checksum.lock().unwrap_or_else(|p| p.into_inner()) = loaded.checksum;
        self.reload_succeeded();
        let changes = self.sync_pollers(&config);
        // The new configuration is in force either way; a store read that fails here is
        // retried after the next poll.
        if let Err(e) = self.refresh().await {
            tracing::error!(error = %e, "cannot refresh the snapshot after a reload");
        }
        tracing::info!(
            file = %self.config_path.display(),
            added = %changes.added.join(","),
            removed = %changes.removed.join(","),
            restarted = %changes.restarted.join(","),
            unchanged = changes.kept,
            "configuration reloaded"
        );
        crate::logging::log_configuration(&config, self.store.path());
        Ok(ReloadOutcome::Applied)
    }

    fn reload_succeeded(&self) {
        *self.reload_status.lock().unwrap_or_else(|p| p.into_inner()) = ReloadStatus {
            successful: true,
            last_success: wall_clock(),
        };
    }
}

/// Source names by what a reload did to their pollers.
#[derive(Debug, Default)]
struct PollerChanges {
    added: Vec<String>,
    removed: Vec<String>,
    restarted: Vec<String>,
    kept: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
tiers:
  english:
    goal: 24h
    bulletins: [msrc]
sources:
  msrc:
    role: bulletins
    kind: msrc
    url: https://api.msrc.microsoft.com/cvrf/v3.0/updates
  pmimport:
    role: releases
    kind: json
    url: https://vendor.example/releases.json
    items: $.releases[*]
    id: $.version
    published: $.released
    tier: $.language
    tier_map: {English: english}
"#;

    fn keys(text: &str) -> BTreeMap<String, PollerKey> {
        let config = Config::parse(Path::new("patchlag.yml"), text).expect("valid");
        config
            .sources
            .iter()
            .map(|s| (s.name.clone(), PollerKey::of(&config, s)))
            .collect()
    }

    /// (change, sources whose poller must restart)
    #[test]
    fn pollers_restart_exactly_when_their_source_changes() {
        let base = keys(BASE);
        let cases: [(String, &[&str]); 6] = [
            (BASE.to_string(), &[]),
            (BASE.replace("goal: 24h", "goal: 12h"), &[]),
            (
                BASE.replace("    items:", "    interval: 5m\n    items:"),
                &["pmimport"],
            ),
            (
                BASE.replace("kind: msrc\n", "kind: msrc\n    release_time: \"11:00\"\n"),
                &["msrc"],
            ),
            (BASE.replace("$.version", "$.id"), &["pmimport"]),
            // A new tier with its own release source: the other release source's records are
            // filtered by tier names, so it restarts; the bulletin source does not.
            (
                BASE.replace(
                    "sources:\n",
                    "  office365:\n    goal: 48h\n    bulletins: [msrc]\nsources:\n",
                ) + "  o365:\n    role: releases\n    kind: csv\n    url: https://vendor.example/o365.csv\n    id: build\n    published: date\n    tiers: [office365]\n",
                &["pmimport"],
            ),
        ];
        for (text, restarted) in cases {
            let changed = keys(&text);
            for (name, key) in &base {
                assert_eq!(
                    changed[name] != *key,
                    restarted.contains(&name.as_str()),
                    "{name} for:\n{text}"
                );
            }
        }
    }

    #[test]
    fn checksum_is_sha256() {
        let hex: String = checksum(b"abc")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
