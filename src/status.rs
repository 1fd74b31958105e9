//! The status document: what `/api/v1/status` serves and the landing page renders. Built from
//! the snapshot and "now" only, so it costs no I/O and agrees with `/metrics` at the same
//! instant.

use std::collections::HashMap;

use serde::Serialize;

use crate::build_info::BUILD;
use crate::model::{self, Pair};
use crate::snapshot::Snapshot;
use crate::sources::fetch::redact_url;
use crate::timeparse::rfc3339;

#[derive(Debug, Serialize)]
pub struct StatusDoc {
    pub version: &'static str,
    pub revision: &'static str,
    pub rustc_version: &'static str,
    pub now: String,
    /// Bulletins published within this many seconds are listed under `bulletins`.
    pub series_window_seconds: i64,
    /// Window of each tier's `goal_met_ratio`, in seconds.
    pub compliance_window_seconds: i64,
    pub at_risk_ratio: f64,
    pub sources: Vec<SourceDoc>,
    pub tiers: Vec<TierDoc>,
    /// Newest first.
    pub bulletins: Vec<BulletinDoc>,
}

#[derive(Debug, Serialize)]
pub struct SourceDoc {
    pub name: String,
    pub role: &'static str,
    pub kind: &'static str,
    pub url: String,
    pub up: bool,
    /// False until the source's first poll since the store was created.
    pub polled: bool,
    pub last_success: Option<String>,
    pub last_poll: Option<String>,
    pub last_error: Option<String>,
    pub last_error_reason: Option<String>,
    pub last_error_time: Option<String>,
    pub records: u64,
}

#[derive(Debug, Serialize)]
pub struct TierDoc {
    pub name: String,
    pub description: String,
    pub goal_seconds: i64,
    pub bulletin_sources: Vec<String>,
    /// `patchlag_goal_met_ratio`: among pairs whose deadline lies within the compliance
    /// window, the share released within goal; `None` when there is none.
    pub goal_met_ratio: Option<f64>,
    /// The pairs behind `goal_met_ratio`: met and all of them.
    pub goal_met: u64,
    pub goal_due: u64,
    /// The newest evaluated bulletin of this tier, whatever its age.
    pub current: Option<CurrentDoc>,
    /// Older bulletins in the series window still without content past their goal, newest first.
    pub overdue: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct CurrentDoc {
    pub source: String,
    pub bulletin: String,
    pub title: String,
    pub published: String,
    #[serde(flatten)]
    pub pair: PairDoc,
}

#[derive(Debug, Serialize)]
pub struct BulletinDoc {
    pub source: String,
    pub id: String,
    pub title: String,
    pub published: String,
    pub age_seconds: i64,
    /// One entry per tier that evaluates this bulletin, in tier order.
    pub tiers: Vec<PairDoc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PairDoc {
    pub tier: String,
    pub status: &'static str,
    pub delay_seconds: i64,
    pub goal_seconds: i64,
    pub deadline: String,
    /// True while no covering release exists (statuses `pending`, `at risk`, or `breached`).
    pub pending: bool,
    pub release: Option<String>,
    pub release_published: Option<String>,
}

/// The status document at `now`.
pub fn status_doc(snapshot: &Snapshot, now: i64) -> StatusDoc {
    let config = &snapshot.config;
    let model = &snapshot.model;
    let pairs = model.evaluate(now, config.metrics.at_risk_ratio);
    let series_window = config.metrics.series_window.as_secs() as i64;
    let compliance_window = config.metrics.compliance_window.as_secs() as i64;
    let window_start = now - series_window;
    let in_window = |p: &Pair| p.published >= window_start;

    let sources = config
        .sources
        .iter()
        .zip(&snapshot.sources)
        .map(|(c, s)| SourceDoc {
            name: c.name.clone(),
            role: c.role.as_str(),
            kind: c.kind_name(),
            url: redact_url(&c.url),
            up: s.up == Some(true),
            polled: s.last_poll.is_some(),
            last_success: s.last_success.map(rfc3339),
            last_poll: s.last_poll.map(rfc3339),
            last_error: s.last_error.clone(),
            last_error_reason: s.last_error_reason.map(|r| r.as_str().to_string()),
            last_error_time: s.last_error_time.map(rfc3339),
            records: s.records,
        })
        .collect();

    let tiers = config
        .tiers
        .iter()
        .enumerate()
        .map(|(t, tier)| {
            // `evaluate` lists a tier's pairs by publication time: the last one is the newest.
            let of_tier: Vec<&Pair> = pairs.iter().filter(|p| p.tier == t).collect();
            let goal_met_ratio =
                model::goal_met_ratio(of_tier.iter().copied(), now, compliance_window);
            let due: Vec<&&Pair> = of_tier
                .iter()
                .filter(|p| p.deadline() <= now && p.deadline() >= now - compliance_window)
                .collect();
            let current = of_tier.last().map(|p| {
                let b = &model.bulletins[p.bulletin];
                CurrentDoc {
                    source: b.source.clone(),
                    bulletin: b.id.clone(),
                    title: b.title.clone(),
                    published: rfc3339(b.published),
                    pair: pair_doc(snapshot, p),
                }
            });
            let overdue = of_tier
                .iter()
                .rev()
                .skip(1)
                .filter(|p| in_window(p) && p.pending() && p.breached())
                .map(|p| model.bulletins[p.bulletin].id.clone())
                .collect();
            TierDoc {
                name: tier.name.clone(),
                description: tier.description.clone(),
                goal_seconds: tier.goal.as_secs() as i64,
                bulletin_sources: tier.bulletin_sources.clone(),
                goal_met_ratio,
                goal_met: due.iter().filter(|p| !p.pending() && !p.breached()).count() as u64,
                goal_due: due.len() as u64,
                current,
                overdue,
            }
        })
        .collect();

    let mut by_bulletin: HashMap<usize, Vec<&Pair>> = HashMap::new();
    for p in pairs.iter().filter(|p| in_window(p)) {
        by_bulletin.entry(p.bulletin).or_default().push(p);
    }
    let mut recent: Vec<usize> = (0..model.bulletins.len())
        .filter(|&i| {
            let p = model.bulletins[i].published;
            p <= now && p >= window_start
        })
        .collect();
    recent.sort_by_key(|&i| {
        let b = &model.bulletins[i];
        (
            std::cmp::Reverse(b.published),
            b.source.clone(),
            b.id.clone(),
        )
    });
    let bulletins = recent
        .into_iter()
        .map(|i| {
            let b = &model.bulletins[i];
            let mut tiers: Vec<&Pair> = by_bulletin.remove(&i).unwrap_or_default();
            tiers.sort_by_key(|p| p.tier);
            BulletinDoc {
                source: b.source.clone(),
                id: b.id.clone(),
                title: b.title.clone(),
                published: rfc3339(b.published),
                age_seconds: now - b.published,
                tiers: tiers.into_iter().map(|p| pair_doc(snapshot, p)).collect(),
            }
        })
        .collect();

    StatusDoc {
        version: BUILD.version,
        revision: BUILD.revision,
        rustc_version: BUILD.rustc_version,
        now: rfc3339(now),
        series_window_seconds: series_window,
        compliance_window_seconds: compliance_window,
        at_risk_ratio: config.metrics.at_risk_ratio,
        sources,
        tiers,
        bulletins,
    }
}

fn pair_doc(snapshot: &Snapshot, p: &Pair) -> PairDoc {
    let model = &snapshot.model;
    let release = p.release.map(|r| &model.releases[r]);
    PairDoc {
        tier: model.tiers[p.tier].name.clone(),
        status: p.status().as_str(),
        delay_seconds: p.delay,
        goal_seconds: p.goal,
        deadline: rfc3339(p.deadline()),
        pending: p.pending(),
        release: release.map(|r| r.id.clone()),
        release_published: release.map(|r| rfc3339(r.published)),
    }
}
