//! The one place that names metrics. Renders a snapshot of the store, evaluated at "now", into
//! the Prometheus text exposition format (0.0.4).
//!
//! Every value is derived from stored history at scrape time: a restart changes nothing already
//! known (counters do not reset, histograms do not re-observe), and nothing here does I/O
//! beyond reading `/proc` for the standard process metrics.

use prometheus::core::Collector;
use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
};
use prometheus::{Encoder, TextEncoder};

use crate::build_info::BUILD;
use crate::model::Pair;
use crate::snapshot::Snapshot;
use crate::sources::Reason;

pub const NAMESPACE: &str = "patchlag";

/// A reload state as `/metrics` shows it: the app reports the configuration's, the web
/// configuration its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReloadStatus {
    pub successful: bool,
    pub last_success: i64,
}

/// The reload states `/metrics` shows: the configuration's, and the web configuration's when
/// `--web.config.file` is set (its metrics exist only then).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reloads {
    pub config: ReloadStatus,
    pub web_config: Option<ReloadStatus>,
}

impl From<ReloadStatus> for Reloads {
    fn from(config: ReloadStatus) -> Reloads {
        Reloads {
            config,
            web_config: None,
        }
    }
}

const POLLED: &str = "Values come from periodically polled sources.";

struct Families(Vec<MetricFamily>);

impl Families {
    fn family(&mut self, name: &str, help: &str, kind: MetricType) -> &mut MetricFamily {
        let mut f = MetricFamily::default();
        f.set_name(format!("{NAMESPACE}_{name}"));
        f.set_help(help.to_string());
        f.set_field_type(kind);
        self.0.push(f);
        let last = self.0.len() - 1;
        &mut self.0[last]
    }
}

fn labels(pairs: &[(&str, &str)]) -> Vec<LabelPair> {
    pairs
        .iter()
        .map(|(k, v)| {
            let mut l = LabelPair::default();
            l.set_name(k.to_string());
            l.set_value(v.to_string());
            l
        })
        .collect()
}

fn gauge(f: &mut MetricFamily, l: &[(&str, &str)], value: f64) {
    let mut g = Gauge::default();
    g.set_value(value);
    let mut m = Metric::from_gauge(g);
    m.set_label(labels(l));
    f.mut_metric().push(m);
}

fn counter(f: &mut MetricFamily, l: &[(&str, &str)], value: f64) {
    let mut c = Counter::default();
    c.set_value(value);
    let mut m = Metric::from_label(labels(l));
    m.set_counter(c);
    f.mut_metric().push(m);
}

/// Renders the exposition text for `snapshot` at `now` (Unix seconds).
pub fn render(snapshot: &Snapshot, now: i64, reloads: impl Into<Reloads>) -> Vec<u8> {
    let families = families(snapshot, now, reloads);
    let mut out = Vec::with_capacity(16 * 1024);
    let encoder = TextEncoder::new();
    // Encoding plain in-memory families cannot fail but for a broken writer, and a Vec is not.
    if let Err(e) = encoder.encode(&families, &mut out) {
        tracing::error!(error = %e, "cannot encode metrics");
    }
    out
}

pub fn families(snapshot: &Snapshot, now: i64, reloads: impl Into<Reloads>) -> Vec<MetricFamily> {
    let reloads = reloads.into();
    let reload = reloads.config;
    let config = &snapshot.config;
    let model = &snapshot.model;
    // Whole-history facts come precomputed; only the series window and pending pairs are
    // evaluated here, so the cost of a scrape does not grow with the history.
    let evaluation = snapshot.evaluation(now);
    let at_risk_ratio = config.metrics.at_risk_ratio;
    let window_start = now - config.metrics.series_window.as_secs() as i64;
    let mut fams = Families(Vec::new());

    // Bulletins.
    let recent = model.bulletins_published_between(window_start, now);
    {
        let f = fams.family(
            "bulletin_published_timestamp_seconds",
            &format!(
                "When the bulletin's clock started (its public release), in Unix seconds. {POLLED}"
            ),
            MetricType::GAUGE,
        );
        for b in recent {
            gauge(
                f,
                &[("source", &b.source), ("bulletin", &b.id)],
                b.published as f64,
            );
        }
        let f = fams.family(
            "bulletin_age_seconds",
            &format!("Seconds since the bulletin's clock started. {POLLED}"),
            MetricType::GAUGE,
        );
        for b in recent {
            gauge(
                f,
                &[("source", &b.source), ("bulletin", &b.id)],
                (now - b.published) as f64,
            );
        }
        let f = fams.family(
            "bulletin_info",
            &format!("Descriptive labels of a bulletin; always 1. {POLLED}"),
            MetricType::GAUGE,
        );
        for b in recent {
            gauge(
                f,
                &[
                    ("source", &b.source),
                    ("bulletin", &b.id),
                    ("title", &b.title),
                ],
                1.0,
            );
        }
    }

    // Goals.
    let f = fams.family("goal_seconds", "The tier's service goal: longest acceptable delay between a bulletin and its content release, in seconds.", MetricType::GAUGE);
    for t in &model.tiers {
        gauge(f, &[("tier", &t.name)], t.goal as f64);
    }

    // Pairs in the series window.
    let recent_pairs: Vec<Pair> = (0..model.tiers.len())
        .flat_map(|t| evaluation.pairs_since(t, window_start, now, at_risk_ratio))
        .collect();
    let pair_labels = |p: &Pair| {
        [
            ("tier", model.tiers[p.tier].name.as_str()),
            ("bulletin", model.bulletins[p.bulletin].id.as_str()),
        ]
    };
    let f = fams.family(
        "goal_deadline_timestamp_seconds",
        &format!("When the tier's content for the bulletin is due (publication + goal), in Unix seconds. {POLLED}"),
        MetricType::GAUGE,
    );
    for p in &recent_pairs {
        gauge(f, &pair_labels(p), p.deadline() as f64);
    }
    let f = fams.family(
        "release_delay_seconds",
        &format!("Delay between the bulletin and the tier's covering release; grows while pending, frozen once released. {POLLED}"),
        MetricType::GAUGE,
    );
    for p in &recent_pairs {
        gauge(f, &pair_labels(p), p.delay as f64);
    }
    let f = fams.family(
        "release_published_timestamp_seconds",
        &format!("When the tier's covering release was published, in Unix seconds; absent while pending. {POLLED}"),
        MetricType::GAUGE,
    );
    for p in &recent_pairs {
        if let Some(r) = p.release {
            gauge(f, &pair_labels(p), model.releases[r].published as f64);
        }
    }
    let f = fams.family(
        "release_pending",
        &format!("1 while the tier has no release covering the bulletin, else 0. {POLLED}"),
        MetricType::GAUGE,
    );
    for p in &recent_pairs {
        gauge(f, &pair_labels(p), if p.pending() { 1.0 } else { 0.0 });
    }
    let f = fams.family(
        "goal_breached",
        &format!(
            "1 when the delay exceeds the tier's goal, released or still pending, else 0. {POLLED}"
        ),
        MetricType::GAUGE,
    );
    for p in &recent_pairs {
        gauge(f, &pair_labels(p), if p.breached() { 1.0 } else { 0.0 });
    }

    // Aggregates over the whole history.
    let buckets = &config.metrics.latency_buckets;
    let f = fams.family(
        "release_latency_seconds",
        &format!("Delay between a bulletin and the tier's covering release, one observation per released pair over the stored history. {POLLED}"),
        MetricType::HISTOGRAM,
    );
    for (t, tier) in model.tiers.iter().enumerate() {
        let latency = evaluation.latency(t);
        let mut h = Histogram::default();
        h.set_sample_count(latency.count());
        h.set_sample_sum(latency.sum as f64);
        h.set_bucket(
            buckets
                .iter()
                .map(|upper| {
                    let mut b = Bucket::default();
                    b.set_upper_bound(*upper);
                    b.set_cumulative_count(latency.count_le(*upper));
                    b
                })
                .collect(),
        );
        let mut m = Metric::from_label(labels(&[("tier", &tier.name)]));
        m.set_histogram(h);
        f.mut_metric().push(m);
    }
    let f = fams.family(
        "goal_breaches_total",
        &format!("Pairs that breached the tier's goal over the stored history, each counted once; pending pairs count once past their deadline. {POLLED}"),
        MetricType::COUNTER,
    );
    for (t, tier) in model.tiers.iter().enumerate() {
        counter(
            f,
            &[("tier", &tier.name)],
            evaluation.breaches(t, now) as f64,
        );
    }
    let f = fams.family(
        "goal_met_ratio",
        &format!("Among pairs whose deadline lies within the compliance window, the share released within goal. {POLLED}"),
        MetricType::GAUGE,
    );
    let window = config.metrics.compliance_window.as_secs() as i64;
    for (t, tier) in model.tiers.iter().enumerate() {
        if let Some(ratio) = evaluation.goal_met_ratio(t, now, window) {
            gauge(f, &[("tier", &tier.name)], ratio);
        }
    }

    // Sources.
    let f = fams.family(
        "source_up",
        "1 if the source's last poll succeeded, else 0.",
        MetricType::GAUGE,
    );
    for s in &snapshot.sources {
        gauge(
            f,
            &[("source", &s.name)],
            if s.up == Some(true) { 1.0 } else { 0.0 },
        );
    }
    let f = fams.family(
        "source_last_success_timestamp_seconds",
        "When the source was last polled successfully, in Unix seconds.",
        MetricType::GAUGE,
    );
    for s in &snapshot.sources {
        if let Some(t) = s.last_success {
            gauge(f, &[("source", &s.name)], t as f64);
        }
    }
    let f = fams.family(
        "source_poll_duration_seconds",
        "How long the source's last poll took, in seconds.",
        MetricType::GAUGE,
    );
    for s in &snapshot.sources {
        if let Some(d) = s.last_duration {
            gauge(f, &[("source", &s.name)], d);
        }
    }
    let f = fams.family(
        "source_records",
        "Records accepted by the source's last successful poll (malformed, filtered and excluded entries not counted).",
        MetricType::GAUGE,
    );
    for s in &snapshot.sources {
        gauge(f, &[("source", &s.name)], s.records as f64);
    }
    let f = fams.family(
        "source_errors_total",
        "Failed polls of the source, by reason.",
        MetricType::COUNTER,
    );
    for s in &snapshot.sources {
        for reason in Reason::ALL {
            let n = s.errors.get(&reason).copied().unwrap_or(0);
            counter(
                f,
                &[("source", &s.name), ("reason", reason.as_str())],
                n as f64,
            );
        }
    }

    // The exporter itself.
    let f = fams.family(
        "config_last_reload_successful",
        "1 if the last configuration reload succeeded, else 0.",
        MetricType::GAUGE,
    );
    gauge(f, &[], if reload.successful { 1.0 } else { 0.0 });
    let f = fams.family(
        "config_last_reload_success_timestamp_seconds",
        "When the configuration was last loaded successfully, in Unix seconds.",
        MetricType::GAUGE,
    );
    gauge(f, &[], reload.last_success as f64);
    if let Some(web) = reloads.web_config {
        let f = fams.family(
            "web_config_last_reload_successful",
            "1 if the web configuration file (--web.config.file) was last read successfully, 0 if its last change could not be used (the previous settings stay in force).",
            MetricType::GAUGE,
        );
        gauge(f, &[], if web.successful { 1.0 } else { 0.0 });
        let f = fams.family(
            "web_config_last_reload_success_timestamp_seconds",
            "When the web configuration file was last read successfully, in Unix seconds.",
            MetricType::GAUGE,
        );
        gauge(f, &[], web.last_success as f64);
    }
    let f = fams.family(
        "build_info",
        "A metric with a constant '1' value labeled by version, revision and rustc_version from which patchlag-exporter was built.",
        MetricType::GAUGE,
    );
    gauge(
        f,
        &[
            ("version", BUILD.version),
            ("revision", BUILD.revision),
            ("rustc_version", BUILD.rustc_version),
        ],
        1.0,
    );

    let mut all = fams.0;
    all.retain(|f| !f.get_metric().is_empty());
    all.extend(process_families());
    all
}

#[cfg(target_os = "linux")]
fn process_families() -> Vec<MetricFamily> {
    use prometheus::process_collector::ProcessCollector;
    use std::sync::OnceLock;
    // One collector for the process: building its descriptors costs more than reading /proc.
    static PROCESS: OnceLock<ProcessCollector> = OnceLock::new();
    PROCESS.get_or_init(ProcessCollector::for_self).collect()
}

#[cfg(not(target_os = "linux"))]
fn process_families() -> Vec<MetricFamily> {
    Vec::new()
}
