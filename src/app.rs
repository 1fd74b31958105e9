//! The running exporter's shared state: configuration, store, snapshot, readiness, reloads.
//!
//! Concurrency model: one poller task per source writes to the store (one transaction per
//! poll) and then rebuilds the snapshot; HTTP handlers only clone an `Arc` of the current
//! snapshot. Snapshot rebuilds are serialized so that a slow rebuild cannot overwrite a newer
//! one; reloads are serialized so that two concurrent reloads cannot interleave.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use tokio::task::JoinHandle;

use crate::config::Config;
use crate::metrics::ReloadStatus;
use crate::snapshot::Snapshot;
use crate::store::Store;

/// Where "now" comes from. Every age, deadline and breach depends on it.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    System,
    /// A frozen instant (Unix seconds), for reproducible output.
    Fixed(i64),
}

impl Clock {
    pub fn now(&self) -> i64 {
        match self {
            Clock::System => chrono::Utc::now().timestamp(),
            Clock::Fixed(t) => *t,
        }
    }
}

pub struct App {
    pub store: Arc<Store>,
    pub clock: Clock,
    pub config_path: PathBuf,
    config: RwLock<Arc<Config>>,
    snapshot: RwLock<Arc<Snapshot>>,
    reload_status: Mutex<ReloadStatus>,
    reload_lock: tokio::sync::Mutex<()>,
    refresh_lock: tokio::sync::Mutex<()>,
    pollers: Mutex<Vec<JoinHandle<()>>>,
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
        config: Config,
        config_path: PathBuf,
        store: Store,
        clock: Clock,
    ) -> Result<Arc<App>, String> {
        let config = Arc::new(config);
        let snapshot = Arc::new(Snapshot::load(config.clone(), &store).map_err(|e| e.to_string())?);
        Ok(Arc::new(App {
            store: Arc::new(store),
            clock,
            config_path,
            config: RwLock::new(config),
            snapshot: RwLock::new(snapshot),
            reload_status: Mutex::new(ReloadStatus {
                successful: true,
                last_success: clock.now(),
            }),
            reload_lock: tokio::sync::Mutex::new(()),
            refresh_lock: tokio::sync::Mutex::new(()),
            pollers: Mutex::new(Vec::new()),
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

    /// Starts one poller per configured source, replacing any running ones.
    pub fn start_pollers(self: &Arc<Self>) {
        let config = self.config();
        let handles: Vec<_> = config
            .sources
            .iter()
            .map(|s| {
                tokio::spawn(crate::poller::run(
                    self.clone(),
                    config.clone(),
                    s.name.clone(),
                ))
            })
            .collect();
        let old = std::mem::replace(
            &mut *self.pollers.lock().unwrap_or_else(|p| p.into_inner()),
            handles,
        );
        for h in old {
            h.abort();
        }
    }

    pub fn stop_pollers(&self) {
        for h in self
            .pollers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            h.abort();
        }
    }

    pub fn mark_polled(&self, source: &str) {
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
    pub async fn refresh(&self) -> Result<(), String> {
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

    /// Re-reads the configuration file. On error the running configuration stays.
    pub async fn reload(self: &Arc<Self>) -> Result<(), String> {
        let _guard = self.reload_lock.lock().await;
        let path = self.config_path.clone();
        let loaded = tokio::task::spawn_blocking(move || Config::load(&path))
            .await
            .map_err(|e| format!("reload task failed: {e}"))?;
        let now = self.clock.now();
        match loaded {
            Err(e) => {
                self.reload_status
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .successful = false;
                tracing::error!(error = %e, "configuration reload failed; keeping the running configuration");
                Err(e.to_string())
            }
            Ok(config) => {
                let old = self.config();
                if config.storage_path != old.storage_path {
                    tracing::warn!(
                        "storage.path changed: the new database is used after a restart"
                    );
                }
                write(&self.config, Arc::new(config));
                *self.reload_status.lock().unwrap_or_else(|p| p.into_inner()) = ReloadStatus {
                    successful: true,
                    last_success: now,
                };
                self.refresh().await?;
                self.start_pollers();
                tracing::info!(file = %self.config_path.display(), "configuration reloaded");
                Ok(())
            }
        }
    }
}
