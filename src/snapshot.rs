//! An immutable, in-memory view of the store for one configuration: what `/metrics`, the
//! landing page and the status API read. It is rebuilt after every poll and every reload, never
//! on a scrape, so a scrape does no I/O and never waits for a source.
//!
//! A snapshot also memoizes what scrapes derive from it: the model's evaluation (valid until
//! the next record time), which lives and dies with the snapshot.

use std::sync::{Arc, Mutex, PoisonError};

use crate::config::Config;
use crate::model::{Bulletin, Evaluation, Model, Release, ReleaseSieve, TierSpec};
use crate::sources::Role;
use crate::store::{ReleaseRow, SourceState, Store, StoreData, StoreError, StoredBulletin};

#[derive(Debug)]
pub struct Snapshot {
    pub config: Arc<Config>,
    pub model: Model,
    /// One per configured source, in configuration order (a source never polled has defaults).
    pub sources: Vec<SourceState>,
    evaluation: Mutex<Option<Arc<Evaluation>>>,
}

fn is_source(config: &Config, name: &str, role: Role) -> bool {
    config
        .sources
        .iter()
        .any(|s| s.name == name && s.role == role)
}

/// One state per configured source, in configuration order.
fn source_states(config: &Config, stored: &[SourceState]) -> Vec<SourceState> {
    config
        .sources
        .iter()
        .map(|s| {
            stored
                .iter()
                .find(|st| st.name == s.name)
                .cloned()
                .unwrap_or_else(|| SourceState {
                    name: s.name.clone(),
                    ..Default::default()
                })
        })
        .collect()
}

fn tier_specs(config: &Config, sources: &[SourceState]) -> Vec<TierSpec> {
    config
        .tiers
        .iter()
        .map(|t| TierSpec {
            name: t.name.clone(),
            goal: t.goal.as_secs() as i64,
            since: t.since,
            bulletin_sources: t.bulletin_sources.clone(),
            first_release_poll: config
                .release_sources_of(&t.name)
                .iter()
                .filter_map(|s| {
                    sources
                        .iter()
                        .find(|st| st.name == s.name)
                        .and_then(|st| st.first_success)
                })
                .min(),
        })
        .collect()
}

fn bulletins(config: &Config, stored: Vec<StoredBulletin>) -> Vec<Bulletin> {
    stored
        .into_iter()
        .filter(|b| is_source(config, &b.source, Role::Bulletins))
        .map(|b| Bulletin {
            source: b.source,
            id: b.id,
            title: b.title,
            published: b.published,
        })
        .collect()
}

impl Snapshot {
    /// Reads the store for `config`. Of the releases, only those the model could ever use are
    /// read into memory (see `model::ReleaseSieve`): the rest of a long history stays on disk.
    pub fn load(config: Arc<Config>, store: &Store) -> Result<Snapshot, StoreError> {
        let data = store.load_with(|data| {
            let sources = source_states(&config, &data.sources);
            let mut sieve = ReleaseSieve::new(
                &tier_specs(&config, &sources),
                &bulletins(&config, data.bulletins.clone()),
            );
            let config = config.clone();
            move |r: &ReleaseRow<'_>| {
                is_source(&config, r.source, Role::Releases)
                    && sieve.keep(r.tier, r.published, &r.covers)
            }
        })?;
        Ok(Snapshot::build(config, data))
    }

    /// Keeps only what the configuration names: history of removed sources stays stored but
    /// is not shown.
    pub fn build(config: Arc<Config>, data: StoreData) -> Snapshot {
        let sources = source_states(&config, &data.sources);
        let tiers = tier_specs(&config, &sources);
        let bulletins = bulletins(&config, data.bulletins);
        let releases = data
            .releases
            .into_iter()
            .filter(|r| is_source(&config, &r.source, Role::Releases))
            .map(|r| Release {
                source: r.source,
                id: r.id,
                tier: r.tier,
                published: r.published,
                covers: r.covers,
            })
            .collect();
        Snapshot {
            model: Model::new(tiers, bulletins, releases),
            sources,
            config,
            evaluation: Mutex::new(None),
        }
    }

    /// The model's evaluation at `now`, computed again only when a record has become effective
    /// since the last one (or the clock went back past one).
    pub fn evaluation(&self, now: i64) -> Arc<Evaluation> {
        // Computing under the lock makes concurrent scrapes wait for one computation instead of
        // each doing it; a panic cannot leave a half-written value behind.
        let mut slot = self
            .evaluation
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match &*slot {
            Some(evaluation) if evaluation.valid_at(now) => evaluation.clone(),
            _ => {
                let evaluation = Arc::new(self.model.evaluation(now));
                *slot = Some(evaluation.clone());
                evaluation
            }
        }
    }
}
