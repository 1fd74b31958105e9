//! The domain, as pure functions over plain data with an injected "now".
//!
//! For a tier T and a bulletin B from one of T's bulletin sources, published at p(B):
//! - the covering release is the earliest release of T that explicitly covers B; when no
//!   release of T lists B, the earliest release of T at or after p(B) that lists no covers
//!   (a release with a covers list counts only for what it lists);
//! - delay = covering release − p(B) (never below 0), or now − p(B) while pending;
//! - breached when delay > goal, pending or not;
//! - a pair is evaluated only where the data supports it: p(B) ≥ T's `since`, and either a
//!   release of T at or before p(B), or T's release sources first polled successfully no later
//!   than p(B) + goal. Otherwise nothing is claimed about it.
//!
//! Records dated after "now" have not happened yet and are ignored.
//!
//! A scrape must not cost more as the history grows, so `Evaluation` holds what only changes
//! when a record becomes effective (which release covers which bulletin, the latency histogram,
//! breaches of released pairs, who met the goal): computed once, valid until the next record's
//! time, and read at scrape time with binary searches; only pending pairs and the series window
//! are walked, and their number does not grow with the history.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

#[derive(Debug, Clone, PartialEq)]
pub struct TierSpec {
    pub name: String,
    /// Seconds.
    pub goal: i64,
    pub since: Option<i64>,
    pub bulletin_sources: Vec<String>,
    /// The earliest first successful poll among the tier's release sources.
    pub first_release_poll: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bulletin {
    pub source: String,
    pub id: String,
    pub title: String,
    pub published: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub source: String,
    pub id: String,
    pub tier: String,
    pub published: i64,
    pub covers: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Released within the goal.
    Met,
    /// Past the goal, released or not.
    Breached,
    /// Not released yet, within the goal.
    Pending,
    /// Not released yet, within the goal, with the delay at or past `at_risk_ratio` × goal.
    AtRisk,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::Breached => "breached",
            Status::Pending => "pending",
            Status::AtRisk => "at risk",
        }
    }
}

/// One evaluated (tier, bulletin) pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair {
    /// Index into `Model::tiers`.
    pub tier: usize,
    /// Index into `Model::bulletins`.
    pub bulletin: usize,
    pub published: i64,
    pub goal: i64,
    /// Index into `Model::releases` of the covering release.
    pub release: Option<usize>,
    /// Seconds.
    pub delay: i64,
    pub at_risk: bool,
}

impl Pair {
    /// The pair as it stands at `now`: a pending pair's delay keeps growing, and it becomes at
    /// risk once the delay reaches `at_risk_ratio` × goal. A released pair does not change.
    pub fn as_of(mut self, now: i64, at_risk_ratio: f64) -> Pair {
        if self.pending() {
            self.delay = now - self.published;
            self.at_risk = self.delay as f64 >= at_risk_ratio * self.goal as f64;
        }
        self
    }

    pub fn deadline(&self) -> i64 {
        self.published + self.goal
    }

    pub fn pending(&self) -> bool {
        self.release.is_none()
    }

    pub fn breached(&self) -> bool {
        self.delay > self.goal
    }

    pub fn status(&self) -> Status {
        if self.breached() {
            Status::Breached
        } else if !self.pending() {
            Status::Met
        } else if self.at_risk {
            Status::AtRisk
        } else {
            Status::Pending
        }
    }
}

/// Per-tier lookups, built once per change of data and used by every evaluation.
#[derive(Debug, Clone, Default)]
struct TierIndex {
    /// Bulletins starting this tier's clock (deduplicated by id, earliest kept), by time.
    bulletins: Vec<usize>,
    /// Publication time of the tier's earliest release, covers or not.
    first_release: Option<i64>,
    /// Releases listing no covers, as (published, index), by time.
    uncovered: Vec<(i64, usize)>,
    /// Lower-cased bulletin id → the earliest release that lists it, as (published, index).
    covering: HashMap<String, (i64, usize)>,
}

#[derive(Debug, Clone, Default)]
pub struct Model {
    pub tiers: Vec<TierSpec>,
    /// Sorted by publication time (stable: equal times keep the given order).
    pub bulletins: Vec<Bulletin>,
    /// The releases that cover, or may come to cover, a bulletin, in the given order: for each
    /// tier and bulletin, the earliest that lists it and the earliest at or after it that lists
    /// nothing. No other release can ever be a covering release, so the model's size follows the
    /// number of bulletins, not the thousands of releases a vendor ships over the years.
    pub releases: Vec<Release>,
    index: Vec<TierIndex>,
}

impl Model {
    pub fn new(
        tiers: Vec<TierSpec>,
        mut bulletins: Vec<Bulletin>,
        releases: Vec<Release>,
    ) -> Model {
        bulletins.sort_by_key(|b| b.published);
        let mut index = Vec::with_capacity(tiers.len());
        for tier in &tiers {
            let mut ti = TierIndex::default();
            let mut by_id: HashMap<&str, usize> = HashMap::new();
            for (i, b) in bulletins.iter().enumerate() {
                if !tier.bulletin_sources.contains(&b.source) {
                    continue;
                }
                if tier.since.is_some_and(|since| b.published < since) {
                    continue;
                }
                match by_id.get(b.id.as_str()) {
                    Some(&j) if bulletins[j].published <= b.published => {}
                    _ => {
                        by_id.insert(&b.id, i);
                    }
                }
            }
            ti.bulletins = by_id.into_values().collect();
            ti.bulletins
                .sort_by_key(|&i| (bulletins[i].published, bulletins[i].id.clone()));
            for (i, r) in releases.iter().enumerate() {
                if r.tier != tier.name {
                    continue;
                }
                ti.first_release = Some(
                    ti.first_release
                        .map_or(r.published, |f: i64| f.min(r.published)),
                );
                if r.covers.is_empty() {
                    ti.uncovered.push((r.published, i));
                } else {
                    for c in &r.covers {
                        let entry = ti
                            .covering
                            .entry(c.to_lowercase())
                            .or_insert((r.published, i));
                        *entry = (*entry).min((r.published, i));
                    }
                }
            }
            ti.uncovered.sort();
            index.push(ti);
        }
        let releases = keep_candidates(&bulletins, releases, &mut index);
        Model {
            tiers,
            bulletins,
            releases,
            index,
        }
    }

    /// Every evaluated pair at `now`, by tier, then by publication time.
    pub fn evaluate(&self, now: i64, at_risk_ratio: f64) -> Vec<Pair> {
        let mut pairs = Vec::new();
        for (t, (tier, ti)) in self.tiers.iter().zip(&self.index).enumerate() {
            for &b in &ti.bulletins {
                let published = self.bulletins[b].published;
                if published > now {
                    break;
                }
                if !supported(tier, ti, published, now) {
                    continue;
                }
                let release = covering_release(ti, &self.bulletins[b].id, published, now);
                let pair = Pair {
                    tier: t,
                    bulletin: b,
                    published,
                    goal: tier.goal,
                    release,
                    delay: release.map_or(0, |r| (self.releases[r].published - published).max(0)),
                    at_risk: false,
                };
                pairs.push(pair.as_of(now, at_risk_ratio));
            }
        }
        pairs
    }

    /// Bulletins published in `[from, to]`, by publication time.
    pub fn bulletins_published_between(&self, from: i64, to: i64) -> &[Bulletin] {
        let start = self.bulletins.partition_point(|b| b.published < from);
        let end = self.bulletins.partition_point(|b| b.published <= to);
        &self.bulletins[start..end.max(start)]
    }

    /// Evaluates the whole history at `now`, for every later `now` until a record becomes
    /// effective (see `Evaluation::valid_at`).
    pub fn evaluation(&self, now: i64) -> Evaluation {
        // Every record time is a point where the result may change; in between, only pending
        // pairs move, and `Evaluation` computes those from `now`.
        let (mut from, mut until) = (i64::MIN, i64::MAX);
        let times = self
            .bulletins
            .iter()
            .map(|b| b.published)
            .chain(self.releases.iter().map(|r| r.published));
        for t in times {
            if t <= now {
                from = from.max(t);
            } else {
                until = until.min(t);
            }
        }
        let mut tiers: Vec<TierEvaluation> = (0..self.tiers.len())
            .map(|_| TierEvaluation::default())
            .collect();
        for pair in self.evaluate(now, 1.0) {
            tiers[pair.tier].pairs.push(pair);
        }
        for tier in &mut tiers {
            tier.summarize();
        }
        Evaluation {
            valid: from..until,
            tiers,
        }
    }
}

/// The evaluated history of every tier at one instant, and what follows from it for any `now`
/// in `valid`: between two record times no pair appears, no covering release changes and no
/// released pair changes, so everything but the pending pairs' growing delays is fixed.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    valid: Range<i64>,
    tiers: Vec<TierEvaluation>,
}

#[derive(Debug, Clone, Default)]
struct TierEvaluation {
    /// Every evaluated pair, by publication time (as `Model::evaluate` orders them).
    pairs: Vec<Pair>,
    /// Delays of released pairs, ascending, and their sum: the latency histogram.
    released_delays: Vec<i64>,
    released_delay_sum: i64,
    /// Released pairs that took longer than the goal.
    released_breaches: u64,
    /// Deadlines of pending pairs, ascending: each is breached once `now` passes its deadline.
    pending_deadlines: Vec<i64>,
    /// Deadlines of all pairs, ascending, and `met_before[i]`: how many of the first `i` met
    /// the goal (one more entry than deadlines).
    deadlines: Vec<i64>,
    met_before: Vec<u64>,
}

impl TierEvaluation {
    fn summarize(&mut self) {
        let mut by_deadline: Vec<(i64, bool)> = Vec::with_capacity(self.pairs.len());
        for p in &self.pairs {
            if p.pending() {
                self.pending_deadlines.push(p.deadline());
            } else {
                self.released_delays.push(p.delay);
                self.released_delay_sum += p.delay;
                self.released_breaches += u64::from(p.breached());
            }
            by_deadline.push((p.deadline(), !p.pending() && !p.breached()));
        }
        self.released_delays.sort_unstable();
        self.pending_deadlines.sort_unstable();
        by_deadline.sort_unstable();
        self.met_before.push(0);
        for (deadline, met) in by_deadline {
            self.deadlines.push(deadline);
            let before = self.met_before.last().copied().unwrap_or(0);
            self.met_before.push(before + u64::from(met));
        }
    }
}

/// The latency histogram of one tier: one observation per released pair.
#[derive(Debug, Clone, Copy)]
pub struct Latency<'a> {
    /// Ascending.
    delays: &'a [i64],
    pub sum: i64,
}

impl Latency<'_> {
    pub fn count(&self) -> u64 {
        self.delays.len() as u64
    }

    /// Observations at or below `upper` (a bucket's cumulative count).
    pub fn count_le(&self, upper: f64) -> u64 {
        self.delays.partition_point(|d| *d as f64 <= upper) as u64
    }
}

impl Evaluation {
    /// Whether this evaluation holds at `now`: no record became effective since it was
    /// computed, nor was one still in the future that is not any more.
    pub fn valid_at(&self, now: i64) -> bool {
        self.valid.contains(&now)
    }

    /// Pairs of tier `tier` published at or after `since`, as they stand at `now`.
    pub fn pairs_since(
        &self,
        tier: usize,
        since: i64,
        now: i64,
        at_risk_ratio: f64,
    ) -> impl Iterator<Item = Pair> + '_ {
        debug_assert!(self.valid_at(now));
        let pairs = self.tiers.get(tier).map_or(&[][..], |t| &t.pairs[..]);
        let start = pairs.partition_point(|p| p.published < since);
        pairs[start..]
            .iter()
            .map(move |p| p.as_of(now, at_risk_ratio))
    }

    pub fn latency(&self, tier: usize) -> Latency<'_> {
        self.tiers.get(tier).map_or(
            Latency {
                delays: &[],
                sum: 0,
            },
            |t| Latency {
                delays: &t.released_delays,
                sum: t.released_delay_sum,
            },
        )
    }

    /// Breached pairs of the tier at `now`: released late, or pending past the deadline.
    pub fn breaches(&self, tier: usize, now: i64) -> u64 {
        debug_assert!(self.valid_at(now));
        self.tiers.get(tier).map_or(0, |t| {
            t.released_breaches + t.pending_deadlines.partition_point(|d| *d < now) as u64
        })
    }

    /// `goal_met_ratio` over the tier's pairs, at `now`.
    pub fn goal_met_ratio(&self, tier: usize, now: i64, window: i64) -> Option<f64> {
        debug_assert!(self.valid_at(now));
        let t = self.tiers.get(tier)?;
        let lo = t.deadlines.partition_point(|d| *d < now - window);
        let hi = t.deadlines.partition_point(|d| *d <= now).max(lo);
        let n = hi - lo;
        let met = t.met_before[hi] - t.met_before[lo];
        (n > 0).then(|| met as f64 / n as f64)
    }
}

/// Drops every release that can never be a covering release (see `Model::releases`) and
/// renumbers the index. Only the earliest listing of each bulletin, and the earliest release
/// without covers at or after each bulletin, can ever cover it; the earliest release of each
/// tier, which the data-support rule needs, is already kept in the index as a time.
fn keep_candidates(
    bulletins: &[Bulletin],
    releases: Vec<Release>,
    index: &mut [TierIndex],
) -> Vec<Release> {
    let mut keep = vec![false; releases.len()];
    for ti in index.iter_mut() {
        let ids: HashSet<String> = ti
            .bulletins
            .iter()
            .map(|&b| bulletins[b].id.to_lowercase())
            .collect();
        ti.covering.retain(|id, _| ids.contains(id));
        let mut uncovered: Vec<(i64, usize)> = ti
            .bulletins
            .iter()
            .filter_map(|&b| {
                let start = ti
                    .uncovered
                    .partition_point(|(t, _)| *t < bulletins[b].published);
                ti.uncovered.get(start).copied()
            })
            .collect();
        uncovered.sort_unstable();
        uncovered.dedup();
        ti.uncovered = uncovered;
        for &(_, i) in ti.covering.values().chain(&ti.uncovered) {
            keep[i] = true;
        }
    }
    let mut renumbered = vec![0; releases.len()];
    let mut kept: Vec<Release> = releases
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep[*i])
        .enumerate()
        .map(|(new, (old, r))| {
            renumbered[old] = new;
            r
        })
        .collect();
    // Collecting reuses the input's allocation, sized for every release.
    kept.shrink_to_fit();
    for ti in index.iter_mut() {
        for (_, i) in ti.covering.values_mut().chain(&mut ti.uncovered) {
            *i = renumbered[*i];
        }
    }
    kept
}

/// Picks, from releases offered in order of publication, those `Model::new` could use (see
/// `Model::releases`), so that the rest of a long history need not be held in memory to be
/// dropped there: per tier, its first release (for the data-support rule), the first listing
/// each of the tier's bulletins, and the first listing nothing at or after each bulletin. What
/// it keeps includes everything the model keeps, so the model built from it is the same.
#[derive(Debug)]
pub struct ReleaseSieve {
    tiers: HashMap<String, SieveTier>,
}

#[derive(Debug, Default)]
struct SieveTier {
    any_kept: bool,
    /// Lower-cased ids of the tier's bulletins → whether a release listing it was kept.
    listed: HashMap<String, bool>,
    /// Publication times of the tier's bulletins, ascending, and how many of them already have
    /// the first release without covers at or after them.
    starts: Vec<i64>,
    started: usize,
}

impl ReleaseSieve {
    pub fn new(tiers: &[TierSpec], bulletins: &[Bulletin]) -> ReleaseSieve {
        let tiers = tiers
            .iter()
            .map(|tier| {
                let mut sieve = SieveTier::default();
                for b in bulletins.iter().filter(|b| {
                    tier.bulletin_sources.contains(&b.source)
                        && tier.since.is_none_or(|since| b.published >= since)
                }) {
                    sieve.listed.insert(b.id.to_lowercase(), false);
                    sieve.starts.push(b.published);
                }
                sieve.starts.sort_unstable();
                (tier.name.clone(), sieve)
            })
            .collect();
        ReleaseSieve { tiers }
    }

    /// Whether to keep a release of `tier`; releases must come in order of publication, ties
    /// in the order the model will get them.
    pub fn keep(&mut self, tier: &str, published: i64, covers: &[impl AsRef<str>]) -> bool {
        let Some(t) = self.tiers.get_mut(tier) else {
            return false;
        };
        let mut keep = !std::mem::replace(&mut t.any_kept, true);
        if covers.is_empty() {
            let pending = &t.starts[t.started..];
            let reached = pending.partition_point(|p| *p <= published);
            if reached > 0 {
                t.started += reached;
                keep = true;
            }
        } else {
            for cover in covers {
                if let Some(listed) = t.listed.get_mut(&cover.as_ref().to_lowercase()) {
                    keep |= !std::mem::replace(listed, true);
                }
            }
        }
        keep
    }
}

/// The data-support rule: claim nothing the release data cannot back.
fn supported(tier: &TierSpec, ti: &TierIndex, published: i64, now: i64) -> bool {
    let release_before = ti.first_release.is_some_and(|f| f <= published && f <= now);
    let watched_in_time = tier
        .first_release_poll
        .is_some_and(|f| f <= published + tier.goal);
    release_before || watched_in_time
}

fn covering_release(ti: &TierIndex, bulletin_id: &str, published: i64, now: i64) -> Option<usize> {
    // A release that lists the bulletin wins; one dated after `now` has not happened yet, and
    // until one has, the bulletin is treated as listed by none.
    if let Some(&(_, i)) = ti
        .covering
        .get(&bulletin_id.to_lowercase())
        .filter(|(t, _)| *t <= now)
    {
        return Some(i);
    }
    let start = ti.uncovered.partition_point(|(t, _)| *t < published);
    ti.uncovered
        .get(start)
        .filter(|(t, _)| *t <= now)
        .map(|(_, i)| *i)
}

/// Per-tier totals over a set of pairs.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    pub pairs: u64,
    pub met: u64,
    pub breached: u64,
    pub pending: u64,
    pub at_risk: u64,
}

impl Totals {
    pub fn add(&mut self, p: &Pair) {
        self.pairs += 1;
        match p.status() {
            Status::Met => self.met += 1,
            Status::Breached => self.breached += 1,
            Status::Pending => self.pending += 1,
            Status::AtRisk => {
                self.pending += 1;
                self.at_risk += 1
            }
        }
    }

    /// Share of decided pairs (met or breached) that met the goal.
    pub fn met_ratio(&self) -> Option<f64> {
        let decided = self.met + self.breached;
        (decided > 0).then(|| self.met as f64 / decided as f64)
    }
}

/// `patchlag_goal_met_ratio`: among pairs whose deadline lies in [now − window, now], the share
/// released within goal. `None` when there is no such pair.
pub fn goal_met_ratio<'a>(
    pairs: impl IntoIterator<Item = &'a Pair>,
    now: i64,
    window: i64,
) -> Option<f64> {
    let (mut n, mut met) = (0u64, 0u64);
    for p in pairs {
        let d = p.deadline();
        if d <= now && d >= now - window {
            n += 1;
            if !p.breached() && !p.pending() {
                met += 1;
            }
        }
    }
    (n > 0).then(|| met as f64 / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    const H: i64 = 3600;

    fn ts(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).expect("valid").timestamp()
    }

    fn tier(name: &str, goal_h: i64, first_poll: Option<i64>) -> TierSpec {
        TierSpec {
            name: name.into(),
            goal: goal_h * H,
            since: None,
            bulletin_sources: vec!["msrc".into()],
            first_release_poll: first_poll,
        }
    }

    fn b(id: &str, published: i64) -> Bulletin {
        Bulletin {
            source: "msrc".into(),
            id: id.into(),
            title: format!("{id} Security Updates"),
            published,
        }
    }

    fn r(id: &str, tier: &str, published: i64, covers: &[&str]) -> Release {
        Release {
            source: "vendor".into(),
            id: id.into(),
            tier: tier.into(),
            published,
            covers: covers.iter().map(|c| c.to_string()).collect(),
        }
    }

    /// (tier, bulletin, release id, delay, status) for every pair.
    fn table(m: &Model, now: i64) -> Vec<(String, String, Option<String>, i64, &'static str)> {
        m.evaluate(now, 0.75)
            .iter()
            .map(|p| {
                (
                    m.tiers[p.tier].name.clone(),
                    m.bulletins[p.bulletin].id.clone(),
                    p.release.map(|i| m.releases[i].id.clone()),
                    p.delay,
                    p.status().as_str(),
                )
            })
            .collect()
    }

    fn row(
        t: &str,
        b: &str,
        r: Option<&str>,
        delay: i64,
        s: &'static str,
    ) -> (String, String, Option<String>, i64, &'static str) {
        (t.into(), b.into(), r.map(str::to_string), delay, s)
    }

    #[test]
    fn met_breached_pending_and_at_risk() {
        let p = ts("2024-03-12T17:00:00Z");
        let m = Model::new(
            vec![
                tier("english", 24, Some(p - 30 * 86400)),
                tier("other", 48, Some(p - 30 * 86400)),
            ],
            vec![b("2024-Mar", p)],
            vec![r("e1", "english", p + 20 * H, &[])],
        );
        // 40 h later: English met after 20 h; other languages pending, 40/48 ≥ 0.75: at risk.
        assert_eq!(
            table(&m, p + 40 * H),
            vec![
                row("english", "2024-Mar", Some("e1"), 20 * H, "met"),
                row("other", "2024-Mar", None, 40 * H, "at risk")
            ]
        );
        // 30 h later: still under 36 h, plainly pending.
        assert_eq!(
            table(&m, p + 30 * H)[1],
            row("other", "2024-Mar", None, 30 * H, "pending")
        );
        // One second past the deadline a pending pair is breached.
        assert_eq!(
            table(&m, p + 48 * H)[1],
            row("other", "2024-Mar", None, 48 * H, "at risk")
        );
        assert_eq!(
            table(&m, p + 48 * H + 1)[1],
            row("other", "2024-Mar", None, 48 * H + 1, "breached")
        );
    }

    #[test]
    fn late_release_is_breached_and_frozen() {
        let p = ts("2023-11-14T18:00:00Z");
        let m = Model::new(
            vec![tier("english", 24, Some(p - 86400))],
            vec![b("2023-Nov", p)],
            vec![r("e1", "english", p + 30 * H, &[])],
        );
        assert_eq!(
            table(&m, p + 100 * H),
            vec![row("english", "2023-Nov", Some("e1"), 30 * H, "breached")]
        );
        // Before the release happened, the same pair was pending.
        assert_eq!(
            table(&m, p + 10 * H),
            vec![row("english", "2023-Nov", None, 10 * H, "pending")]
        );
    }

    #[test]
    fn explicit_covers_win_and_only_count_for_what_they_list() {
        let nov = ts("2026-11-10T18:00:00Z");
        let oob = nov + 2 * H;
        let m = Model::new(
            vec![tier("english", 24, Some(nov - 86400))],
            vec![b("2026-Nov", nov), b("2026-Nov-B", oob)],
            vec![
                // Lists only the OOB bulletin, although it comes after November's.
                r("cab-1", "english", nov + 3 * H, &["2026-Nov-B"]),
                // Lists nothing: the earliest such release at or after p covers November.
                r("cab-2", "english", nov + 5 * H, &[]),
                // Lists November (case differs), later than cab-2: explicit covers still win.
                r("cab-3", "english", nov + 6 * H, &["2026-nov"]),
            ],
        );
        assert_eq!(
            table(&m, nov + 10 * H),
            vec![
                row("english", "2026-Nov", Some("cab-3"), 6 * H, "met"),
                row("english", "2026-Nov-B", Some("cab-1"), H, "met")
            ]
        );
        // Before cab-3 happened, no release listing November exists yet: cab-2 covers it.
        assert_eq!(
            table(&m, nov + 5 * H + 1800)[0],
            row("english", "2026-Nov", Some("cab-2"), 5 * H, "met")
        );
        // And before either, it is pending.
        assert_eq!(
            table(&m, nov + 4 * H)[0],
            row("english", "2026-Nov", None, 4 * H, "pending")
        );
    }

    #[test]
    fn covering_release_ignores_releases_before_the_bulletin() {
        let p = ts("2024-05-14T17:00:00Z");
        let m = Model::new(
            vec![tier("english", 24, None)],
            vec![b("2024-May", p)],
            vec![
                r("old", "english", p - 5 * 86400, &[]),
                r("new", "english", p + 7 * H, &[]),
            ],
        );
        assert_eq!(
            table(&m, p + 8 * H),
            vec![row("english", "2024-May", Some("new"), 7 * H, "met")]
        );
    }

    #[test]
    fn data_support_rule() {
        let p = ts("2024-06-11T17:00:00Z");
        // No release data at all and never polled: nothing is claimed.
        let m = Model::new(
            vec![tier("english", 24, None)],
            vec![b("2024-Jun", p)],
            vec![],
        );
        assert!(table(&m, p + 100 * H).is_empty());
        // Release source first polled 30 h after the bulletin: too late to know (goal 24 h).
        let m = Model::new(
            vec![tier("english", 24, Some(p + 30 * H))],
            vec![b("2024-Jun", p)],
            vec![],
        );
        assert!(table(&m, p + 100 * H).is_empty());
        // First polled exactly at the deadline: still supported, and breached by now.
        let m = Model::new(
            vec![tier("english", 24, Some(p + 24 * H))],
            vec![b("2024-Jun", p)],
            vec![],
        );
        assert_eq!(
            table(&m, p + 100 * H),
            vec![row("english", "2024-Jun", None, 100 * H, "breached")]
        );
        // First polled late, but a release of the tier predates the bulletin: the history reaches back.
        let m = Model::new(
            vec![tier("english", 24, Some(p + 30 * H))],
            vec![b("2024-Jun", p)],
            vec![
                r("may", "english", p - 20 * 86400, &["2024-May"]),
                r("jun", "english", p + 26 * H, &[]),
            ],
        );
        assert_eq!(
            table(&m, p + 100 * H),
            vec![row("english", "2024-Jun", Some("jun"), 26 * H, "breached")]
        );
    }

    #[test]
    fn since_and_future_bulletins() {
        let p = ts("2023-12-12T18:00:00Z");
        let mut t = tier("english", 24, Some(p - 86400 * 400));
        t.since = Some(ts("2024-01-01T00:00:00Z"));
        let jan = ts("2024-01-09T18:00:00Z");
        let m = Model::new(
            vec![t],
            vec![b("2023-Dec", p), b("2024-Jan", jan)],
            vec![r("x", "english", jan + H, &[])],
        );
        // December is before `since`; January is not yet published at `p + 1h`.
        assert!(table(&m, p + H).is_empty());
        assert_eq!(
            table(&m, jan + 2 * H),
            vec![row("english", "2024-Jan", Some("x"), H, "met")]
        );
    }

    #[test]
    fn duplicate_bulletin_ids_keep_the_earliest() {
        let p = ts("2025-01-14T18:00:00Z");
        let mut t = tier("english", 24, Some(p - 86400));
        t.bulletin_sources.push("feed".into());
        let mut dup = b("2025-Jan", p + 3600);
        dup.source = "feed".into();
        let m = Model::new(vec![t], vec![b("2025-Jan", p), dup], vec![]);
        assert_eq!(
            table(&m, p + 2 * H),
            vec![row("english", "2025-Jan", None, 2 * H, "pending")]
        );
    }

    #[test]
    fn a_future_record_ends_an_evaluation() {
        let p = ts("2024-03-12T17:00:00Z");
        let m = Model::new(
            vec![tier("english", 24, Some(p - 86400))],
            vec![b("2024-Mar", p), b("2024-Mar-B", p + 72 * H)],
            vec![r("e1", "english", p + 30 * H, &[])],
        );
        let at = p + 2 * H;
        let ev = m.evaluation(at);
        // Valid from the bulletin's publication until the release is effective.
        assert!(ev.valid_at(p) && ev.valid_at(p + 30 * H - 1));
        assert!(!ev.valid_at(p - 1) && !ev.valid_at(p + 30 * H));
        // Pending at 2 h, still pending (and breached) one second before the release.
        let at_end: Vec<Pair> = ev.pairs_since(0, 0, p + 30 * H - 1, 0.75).collect();
        assert_eq!((at_end[0].delay, at_end[0].pending()), (30 * H - 1, true));
        assert_eq!(ev.breaches(0, p + 30 * H - 1), 1);
        assert_eq!(ev.latency(0).count(), 0);
        // Recomputed once the release's time comes: released late, frozen at 30 h.
        let ev = m.evaluation(p + 30 * H);
        assert!(ev.valid_at(p + 72 * H - 1) && !ev.valid_at(p + 72 * H));
        let latency = ev.latency(0);
        assert_eq!((latency.count(), latency.sum), (1, 30 * H));
        assert_eq!(latency.count_le((24 * H) as f64), 0);
        assert_eq!(latency.count_le((30 * H) as f64), 1);
        assert_eq!(ev.breaches(0, p + 40 * H), 1);
    }

    #[test]
    fn bulletins_in_a_window() {
        let m = Model::new(
            vec![],
            vec![b("c", 30), b("a", 10), b("b", 20), b("b2", 20)],
            vec![],
        );
        let ids = |from, to| -> Vec<&str> {
            m.bulletins_published_between(from, to)
                .iter()
                .map(|b| b.id.as_str())
                .collect()
        };
        assert_eq!(ids(0, 100), vec!["a", "b", "b2", "c"]);
        assert_eq!(ids(11, 20), vec!["b", "b2"]);
        assert_eq!(ids(20, 29), vec!["b", "b2"]);
        assert!(ids(31, 100).is_empty());
        assert!(ids(25, 15).is_empty());
    }

    const IDS: [&str; 6] = [
        "2024-Jan",
        "2024-Feb",
        "2024-Feb-B",
        "2024-Mar",
        "Oct-OOB",
        "2024-Apr",
    ];

    /// A small random history: up to three tiers, ten bulletins from two sources sharing ids,
    /// sixteen releases listing random (differently cased) ids or none.
    fn random_history(rng: &mut fastrand::Rng) -> (Vec<TierSpec>, Vec<Bulletin>, Vec<Release>) {
        let tiers: Vec<TierSpec> = (0..rng.usize(1..4))
            .map(|t| TierSpec {
                name: format!("t{t}"),
                goal: rng.i64(1..48) * H,
                since: rng.bool().then(|| rng.i64(0..100) * H),
                bulletin_sources: if rng.bool() {
                    vec!["msrc".into()]
                } else {
                    vec!["msrc".into(), "feed".into()]
                },
                first_release_poll: rng.bool().then(|| rng.i64(-50..200) * H),
            })
            .collect();
        let bulletins: Vec<Bulletin> = (0..rng.usize(0..10))
            .map(|_| Bulletin {
                source: if rng.bool() { "msrc" } else { "feed" }.into(),
                id: IDS[rng.usize(..IDS.len())].into(),
                title: String::new(),
                // Coarse times, so that bulletins and releases often coincide.
                published: rng.i64(0..100) * H,
            })
            .collect();
        let releases: Vec<Release> = (0..rng.usize(0..16))
            .map(|n| Release {
                source: "vendor".into(),
                id: format!("r{n}"),
                tier: format!("t{}", rng.usize(0..3)),
                published: rng.i64(-20..150) * H,
                covers: (0..rng.usize(0..3))
                    .map(|_| {
                        let id = IDS[rng.usize(..IDS.len())];
                        if rng.bool() {
                            id.to_uppercase()
                        } else {
                            id.to_string()
                        }
                    })
                    .collect(),
            })
            .collect();
        (tiers, bulletins, releases)
    }

    /// (tier, bulletin, covering release, delay, status): the rules as the specification words
    /// them, one pair at a time over every release, with nothing precomputed or left out.
    fn by_the_rules(
        tiers: &[TierSpec],
        bulletins: &[Bulletin],
        releases: &[Release],
        now: i64,
    ) -> Vec<(String, String, Option<String>, i64, &'static str)> {
        let mut rows = Vec::new();
        for tier in tiers {
            let mut sorted: Vec<&Bulletin> = bulletins.iter().collect();
            sorted.sort_by_key(|b| b.published);
            let mut seen = HashSet::new();
            let mut candidates: Vec<&Bulletin> = sorted
                .into_iter()
                .filter(|b| tier.bulletin_sources.contains(&b.source))
                .filter(|b| tier.since.is_none_or(|s| b.published >= s))
                .filter(|b| seen.insert(b.id.clone()))
                .filter(|b| b.published <= now)
                .collect();
            candidates.sort_by_key(|b| (b.published, b.id.clone()));
            let of_tier: Vec<(usize, &Release)> = releases
                .iter()
                .enumerate()
                .filter(|(_, r)| r.tier == tier.name && r.published <= now)
                .collect();
            for b in candidates {
                let p = b.published;
                let supported = of_tier.iter().any(|(_, r)| r.published <= p)
                    || tier.first_release_poll.is_some_and(|f| f <= p + tier.goal);
                if !supported {
                    continue;
                }
                let listing = of_tier
                    .iter()
                    .filter(|(_, r)| r.covers.iter().any(|c| c.eq_ignore_ascii_case(&b.id)))
                    .min_by_key(|(i, r)| (r.published, *i));
                let covering = listing.or_else(|| {
                    of_tier
                        .iter()
                        .filter(|(_, r)| r.covers.is_empty() && r.published >= p)
                        .min_by_key(|(i, r)| (r.published, *i))
                });
                let delay = covering.map_or(now - p, |(_, r)| (r.published - p).max(0));
                let status = if delay > tier.goal {
                    "breached"
                } else if covering.is_some() {
                    "met"
                } else if delay as f64 >= 0.75 * tier.goal as f64 {
                    "at risk"
                } else {
                    "pending"
                };
                rows.push((
                    tier.name.clone(),
                    b.id.clone(),
                    covering.map(|(_, r)| r.id.clone()),
                    delay,
                    status,
                ));
            }
        }
        rows
    }

    /// A model built from the releases the sieve keeps is the model built from all of them.
    #[test]
    fn the_sieve_keeps_what_the_model_needs() {
        let mut rng = fastrand::Rng::with_seed(0x5e7e);
        let (mut kept_total, mut offered_total) = (0, 0);
        for _ in 0..500 {
            let (tiers, bulletins, mut releases) = random_history(&mut rng);
            // The store offers releases by time, then source, id and tier.
            releases.sort_by(|a, b| {
                (a.published, &a.source, &a.id, &a.tier).cmp(&(
                    b.published,
                    &b.source,
                    &b.id,
                    &b.tier,
                ))
            });
            let mut sieve = ReleaseSieve::new(&tiers, &bulletins);
            let kept: Vec<Release> = releases
                .iter()
                .filter(|r| sieve.keep(&r.tier, r.published, &r.covers))
                .cloned()
                .collect();
            kept_total += kept.len();
            offered_total += releases.len();
            let all = Model::new(tiers.clone(), bulletins.clone(), releases.clone());
            let sieved = Model::new(tiers, bulletins, kept);
            let instants = all
                .bulletins
                .iter()
                .map(|b| b.published)
                .chain(releases.iter().map(|r| r.published))
                .flat_map(|t| [t - 1, t, t + 1, t + 20 * H]);
            for now in instants {
                assert_eq!(table(&sieved, now), table(&all, now), "at {now}");
            }
        }
        // It does leave releases out.
        assert!(
            kept_total < offered_total * 3 / 4,
            "{kept_total} of {offered_total}"
        );
    }

    /// The model keeps a few candidate releases out of many and indexes them; on random
    /// histories at every instant that matters it must agree with the rules applied plainly.
    #[test]
    fn evaluate_follows_the_rules() {
        let mut rng = fastrand::Rng::with_seed(0x51de);
        let mut pairs = 0;
        for _ in 0..500 {
            let (tiers, bulletins, releases) = random_history(&mut rng);
            let m = Model::new(tiers.clone(), bulletins.clone(), releases.clone());
            assert!(m.releases.len() <= releases.len());
            let instants = bulletins
                .iter()
                .map(|b| b.published)
                .chain(releases.iter().map(|r| r.published))
                .flat_map(|t| [t - 1, t, t + 1, t + 20 * H]);
            for now in instants {
                let want = by_the_rules(&tiers, &bulletins, &releases, now);
                assert_eq!(table(&m, now), want, "at {now}");
                pairs += want.len();
            }
        }
        assert!(pairs > 10_000, "only {pairs} pairs compared");
    }

    /// Random histories, evaluated once and read at many instants, against a full evaluation
    /// at each instant: the precomputed aggregates must be exact wherever they claim to hold.
    #[test]
    fn evaluation_matches_a_full_evaluation_wherever_valid() {
        let mut rng = fastrand::Rng::with_seed(0x9a7c);
        let mut checked = 0;
        for _ in 0..300 {
            let (tiers, bulletins, releases) = random_history(&mut rng);
            let m = Model::new(tiers, bulletins, releases);
            let mut instants: Vec<i64> = m
                .bulletins
                .iter()
                .map(|b| b.published)
                .chain(m.releases.iter().map(|r| r.published))
                .flat_map(|t| [t - 1, t, t + 1])
                .collect();
            instants.extend((0..10).map(|_| rng.i64(-20..200) * H + rng.i64(0..H)));
            instants.sort_unstable();
            for &at in &instants {
                let ev = m.evaluation(at);
                assert!(ev.valid_at(at));
                for &now in instants.iter().filter(|&&now| ev.valid_at(now)) {
                    let ratio = 0.75;
                    let full = m.evaluate(now, ratio);
                    for t in 0..m.tiers.len() {
                        let of_tier: Vec<Pair> =
                            full.iter().filter(|p| p.tier == t).copied().collect();
                        let since = now - 40 * H;
                        let want: Vec<Pair> = of_tier
                            .iter()
                            .filter(|p| p.published >= since)
                            .copied()
                            .collect();
                        let got: Vec<Pair> = ev.pairs_since(t, since, now, ratio).collect();
                        assert_eq!(got, want, "pairs of tier {t} at {now} (evaluated at {at})");
                        let released: Vec<i64> = of_tier
                            .iter()
                            .filter(|p| !p.pending())
                            .map(|p| p.delay)
                            .collect();
                        let latency = ev.latency(t);
                        assert_eq!(latency.count(), released.len() as u64);
                        assert_eq!(latency.sum, released.iter().sum::<i64>());
                        for upper in [0.0, 3600.0, 86400.0, 1e12] {
                            let n = released.iter().filter(|d| **d as f64 <= upper).count();
                            assert_eq!(latency.count_le(upper), n as u64);
                        }
                        let breached = of_tier.iter().filter(|p| p.breached()).count();
                        assert_eq!(ev.breaches(t, now), breached as u64);
                        for window in [0, 30 * H, 400 * H] {
                            assert_eq!(
                                ev.goal_met_ratio(t, now, window),
                                goal_met_ratio(&of_tier, now, window),
                                "goal met ratio of tier {t} at {now}, window {window}"
                            );
                        }
                    }
                    checked += 1;
                }
            }
        }
        // The comparison ran on a meaningful number of (history, instant) combinations.
        assert!(checked > 5_000, "only {checked} instants compared");
    }

    #[test]
    fn goal_met_ratio_window() {
        let p0 = ts("2025-01-14T18:00:00Z");
        let p1 = ts("2025-02-11T18:00:00Z");
        let p2 = ts("2025-03-11T17:00:00Z");
        let m = Model::new(
            vec![tier("english", 24, Some(p0 - 86400))],
            vec![b("2025-Jan", p0), b("2025-Feb", p1), b("2025-Mar", p2)],
            vec![
                r("a", "english", p0 + H, &[]),
                r("b", "english", p1 + 30 * H, &[]),
            ],
        );
        let now = p2 + 2 * H;
        let pairs = m.evaluate(now, 0.75);
        // March's deadline is in the future: not counted. January met, February breached.
        assert_eq!(goal_met_ratio(&pairs, now, 365 * 86400), Some(0.5));
        // A window that reaches back only to February's deadline.
        assert_eq!(goal_met_ratio(&pairs, now, now - (p1 + 24 * H)), Some(0.0));
        assert_eq!(goal_met_ratio(&pairs, now, 60), None);
        let mut totals = Totals::default();
        pairs.iter().for_each(|p| totals.add(p));
        assert_eq!(
            totals,
            Totals {
                pairs: 3,
                met: 1,
                breached: 1,
                pending: 1,
                at_risk: 0
            }
        );
        assert_eq!(totals.met_ratio(), Some(0.5));
    }
}
