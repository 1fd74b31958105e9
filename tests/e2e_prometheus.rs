//! The shipped monitoring files against the real programs. The exporter runs the offline demo
//! on the real clock (Prometheus stamps samples with real time); a real Prometheus scrapes it
//! every second and evaluates `prometheus/rules.yml` and `prometheus/alerts.yml`, the latter with
//! every `for:` shortened to seconds and nothing else changed; a real Alertmanager routes the
//! alerts with `alertmanager/alertmanager.yml`, its webhooks pointed at a loopback sink and its
//! `group_wait` shortened. Checked through the HTTP APIs:
//!
//! - every rule of both files is loaded and evaluates without error;
//! - every query of `grafana/patchlag.json` evaluates without error and returns data, and the
//!   `tier` variable lists the exporter's tiers. On the demo no panel may be empty: its schedule
//!   always has met, pending, at-risk, late-released and overdue pairs, and years of history
//!   (when panels are empty in production is documented in `docs/dashboard.md`);
//! - the recorded status code of every pair is the exporter's own status word;
//! - PatchContentOverdue fires, critical, for exactly the pairs still pending past their
//!   deadline and PatchContentAtRisk, warning, for exactly the at-risk ones: met, pending and
//!   released-late pairs fire nothing, nor does anything else. Alertmanager routes each alert to
//!   its receiver (also seen by `amtool`) and calls the webhooks;
//! - once the exporter is gone, PatchlagExporterAbsent reaches the ticket receiver and the
//!   content alerts resolve.
//!
//! Needs `prometheus`, `prometheus-alertmanager` (or `alertmanager`) and `amtool`, from the
//! Debian packages `prometheus` and `prometheus-alertmanager`. Without them the test is skipped,
//! except in CI, where `scripts/test.sh` installs them and a missing one is a failure.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use regex::Regex;
use serde_json::Value;

use common::*;

/// Every alert's `for:` in the test copy of the rules: still a real pending phase (two
/// evaluations), short enough for a test.
const ALERT_FOR: &str = "2s";

/// Upper bound of every wait. Generous: the machine may be busy compiling.
const PATIENCE: Duration = Duration::from_secs(60);

/// The shipped webhook receivers' base URL, replaced by the loopback sink's.
const SHIPPED_WEBHOOK_BASE: &str = "http://localhost:5001/";

/// Paths of the shipped receivers' webhooks, by receiver.
const RECEIVER_PATHS: &[(&str, &str)] = &[
    ("patch-admins-page", "/patchlag/page"),
    ("office365-admins-page", "/patchlag/page-office365"),
    ("patch-admins-chat", "/patchlag/chat"),
    ("monitoring-tickets", "/patchlag/ticket"),
];

/// (tier, bulletin)
type Pair = (String, String);

/// A pair's state as the exporter reports it (`/api/v1/status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Met,
    Pending,
    AtRisk,
    /// Breached and still pending: the only state that pages.
    Overdue,
    /// Breached, but the late release has arrived: history.
    ReleasedLate,
}

impl State {
    /// The value of `tier_bulletin:patchlag_pair_status:code` (prometheus/rules.yml).
    fn code(self) -> f64 {
        match self {
            State::Met => 0.0,
            State::Pending => 1.0,
            State::AtRisk => 2.0,
            State::Overdue | State::ReleasedLate => 3.0,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_dashboard_rules_and_alerts_work_with_prometheus_and_alertmanager() {
    let Some(tools) = Tools::find() else {
        eprintln!(
            "skipping: prometheus, prometheus-alertmanager and amtool are needed \
             (apt-get install prometheus prometheus-alertmanager)"
        );
        return;
    };
    let mut stack = Stack::start(&tools).await;

    // A few scrapes first, so that increase() over any window has two samples.
    eventually(
        "three successful scrapes of the exporter",
        &stack,
        || async {
            let up = stack
                .prom
                .query(
                    r#"count_over_time(up{job="patchlag"}[5m]) >= 3 and up{job="patchlag"} == 1"#,
                )
                .await?;
            if up.is_empty() {
                return Err("not yet".to_string());
            }
            Ok(())
        },
    )
    .await;
    eventually("every rule evaluated without error", &stack, || {
        check_rules(&stack.prom, stack.rule_count)
    })
    .await;
    check_dashboard(&stack).await;
    eventually(
        "recorded status codes equal to the exporter's status words",
        &stack,
        || check_recorded_status(&stack),
    )
    .await;

    // The demo's schedule guarantees every state at any time; without all of them the alert
    // checks below would prove little.
    let pairs = exporter_pairs(stack.exporter()).await.expect("status");
    for state in [
        State::Met,
        State::Pending,
        State::AtRisk,
        State::Overdue,
        State::ReleasedLate,
    ] {
        assert!(
            pairs.values().any(|s| *s == state),
            "the demo has no {state:?} pair (see scripts/gen-demo-fixtures.py): {pairs:?}"
        );
    }

    let pairs = eventually(
        "exactly the expected alerts in Alertmanager",
        &stack,
        || async {
            let pairs = exporter_pairs(stack.exporter()).await?;
            check_content_alerts(&pairs, &alertmanager_alerts(&stack.am_url).await?)?;
            Ok(pairs)
        },
    )
    .await;
    eventually(
        "amtool listing the pairs pending past their deadline",
        &stack,
        || async {
            let matchers = ["alertname=PatchContentOverdue", "severity=critical"];
            let listed = amtool_query(&tools.amtool, &stack.am_url, &matchers)?;
            let overdue = with_state(&exporter_pairs(stack.exporter()).await?, State::Overdue);
            if listed != overdue {
                return Err(format!(
                    "amtool lists {listed:?}, the exporter has {overdue:?}"
                ));
            }
            Ok(())
        },
    )
    .await;

    // The demo always has an office365 pair overdue and an at-risk pair; the other tiers have
    // overdue pairs only at times.
    let mut notified = vec!["/patchlag/page-office365", "/patchlag/chat"];
    if with_state(&pairs, State::Overdue)
        .iter()
        .any(|(tier, _)| tier != "office365")
    {
        notified.push("/patchlag/page");
    }
    eventually(
        "notifications to the pages and the chat",
        &stack,
        || async {
            match notified.iter().find(|path| stack.webhooks.hits(path) == 0) {
                Some(path) => Err(format!("nothing on {path} yet")),
                None => Ok(()),
            }
        },
    )
    .await;
    assert_eq!(
        stack.webhooks.hits("/patchlag/ticket"),
        0,
        "a monitoring problem was notified"
    );

    // The exporter goes away: its absence becomes a ticket, and the content alerts resolve.
    stack.stop_exporter();
    eventually(
        "PatchlagExporterAbsent instead of the content alerts",
        &stack,
        || async {
            let alerts = alertmanager_alerts(&stack.am_url).await?;
            if alerts.is_empty() || alerts.iter().any(|a| a.name() != "PatchlagExporterAbsent") {
                return Err(format!("alerts: {alerts:?}"));
            }
            for alert in alerts {
                alert.expect("warning", "monitoring-tickets")?;
                if alert.label("job") != "patchlag" {
                    return Err(format!("no job label: {alert:?}"));
                }
            }
            Ok(())
        },
    )
    .await;
    eventually("a ticket", &stack, || async {
        match stack.webhooks.hits("/patchlag/ticket") {
            0 => Err("nothing on /patchlag/ticket yet".to_string()),
            _ => Ok(()),
        }
    })
    .await;
    stack.progress("done");
}

/// Everything the test starts. Fields drop in declaration order: the programs stop before their
/// directory is removed.
struct Stack {
    prometheus: Daemon,
    alertmanager: Daemon,
    exporter: Option<Exporter>,
    /// Alertmanager's webhooks land here.
    webhooks: Upstream,
    prom: PrometheusApi,
    am_url: String,
    /// Rules in alerts.yml and rules.yml.
    rule_count: usize,
    started: Instant,
    dir: tempfile::TempDir,
}

impl Stack {
    async fn start(tools: &Tools) -> Stack {
        let started = Instant::now();
        let dir = tempfile::tempdir().expect("tempdir");
        let root = repo_root();
        let webhooks = Upstream::start().await;
        for (_, path) in RECEIVER_PATHS {
            webhooks.set(path, Behavior::Ok(Vec::new()));
        }

        let db = dir.path().join("demo.db");
        let demo = root.join("examples/demo.yml");
        let exporter = Exporter::start(&[
            "--config.file",
            path_str(&demo),
            "--storage.path",
            path_str(&db),
        ]);
        exporter.wait_ready().await;
        exporter
            .wait_for("the demo's pairs", |text| {
                text.contains("patchlag_release_pending{")
            })
            .await;

        let am_port = free_port();
        let am_config = dir.path().join("alertmanager.yml");
        std::fs::write(&am_config, alertmanager_config(&root, &webhooks.base)).expect("write");
        let mut alertmanager = Daemon::start(
            "alertmanager",
            &tools.alertmanager,
            &[
                format!("--config.file={}", path_str(&am_config)),
                format!(
                    "--storage.path={}",
                    path_str(&dir.path().join("alertmanager"))
                ),
                format!("--web.listen-address=127.0.0.1:{am_port}"),
                // Empty: no cluster, no gossip port.
                "--cluster.listen-address=".to_string(),
            ],
            dir.path().join("alertmanager.log"),
        );

        let alerts = root.join("prometheus/alerts.yml");
        let rules = root.join("prometheus/rules.yml");
        let alerts_copy = dir.path().join("alerts.yml");
        std::fs::write(&alerts_copy, alerts_with_short_for(&alerts)).expect("write");
        let rule_count = [&alerts, &rules]
            .iter()
            .map(|f| count_matches(f, r"(?m)^\s*- (alert|record):"))
            .sum();
        let prom_port = free_port();
        let prom_config = dir.path().join("prometheus.yml");
        let config = prometheus_config(&[&alerts_copy, &rules], &exporter.address, am_port);
        std::fs::write(&prom_config, config).expect("write");
        let mut prometheus = Daemon::start(
            "prometheus",
            &tools.prometheus,
            &[
                format!("--config.file={}", path_str(&prom_config)),
                format!(
                    "--storage.tsdb.path={}",
                    path_str(&dir.path().join("prometheus"))
                ),
                format!("--web.listen-address=127.0.0.1:{prom_port}"),
            ],
            dir.path().join("prometheus.log"),
        );

        let am_url = format!("http://127.0.0.1:{am_port}");
        let prom = PrometheusApi {
            base: format!("http://127.0.0.1:{prom_port}"),
        };
        alertmanager.wait_ready(&format!("{am_url}/-/ready")).await;
        prometheus
            .wait_ready(&format!("{}/-/ready", prom.base))
            .await;
        let stack = Stack {
            prometheus,
            alertmanager,
            exporter: Some(exporter),
            webhooks,
            prom,
            am_url,
            rule_count,
            started,
            dir,
        };
        stack.progress(&format!("started in {}", stack.dir.path().display()));
        stack
    }

    fn exporter(&self) -> &Exporter {
        self.exporter.as_ref().expect("the exporter runs")
    }

    fn stop_exporter(&mut self) {
        self.exporter = None;
        self.progress("exporter stopped");
    }

    /// Progress with timings, shown when the test fails (or with --nocapture).
    fn progress(&self, what: &str) {
        eprintln!("{:>7.1?}  {what}", self.started.elapsed());
    }

    fn logs(&self) -> String {
        let mut out = vec![self.prometheus.log_tail(), self.alertmanager.log_tail()];
        if let Some(exporter) = &self.exporter {
            let lines = exporter.logs();
            let tail = &lines[lines.len().saturating_sub(20)..];
            out.push(format!(
                "--- last lines of the exporter log ---\n{}",
                tail.join("\n")
            ));
        }
        out.join("\n")
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration for the test
// ---------------------------------------------------------------------------------------------

/// The alerting rules at `path` with every `for:` set to ALERT_FOR, nothing else changed.
fn alerts_with_short_for(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("alerts.yml");
    let alerts = count_matches(path, r"(?m)^\s*- alert:");
    let for_clause = Regex::new(r"(?m)^(\s+for:[ \t]*)\S+[ \t]*$").expect("regex");
    assert!(alerts > 0, "no alert in {}", path.display());
    assert_eq!(
        for_clause.find_iter(&text).count(),
        alerts,
        "every alert in {} should have a for: clause",
        path.display()
    );
    for_clause
        .replace_all(&text, format!("${{1}}{ALERT_FOR}"))
        .into_owned()
}

/// `alertmanager/alertmanager.yml` with its webhooks on `webhook_base` and a short group wait.
fn alertmanager_config(root: &Path, webhook_base: &str) -> String {
    let text = std::fs::read_to_string(root.join("alertmanager/alertmanager.yml"))
        .expect("alertmanager.yml");
    for (receiver, path) in RECEIVER_PATHS {
        let url = format!("{}{}", SHIPPED_WEBHOOK_BASE, path.trim_start_matches('/'));
        assert!(
            text.contains(&url),
            "alertmanager.yml no longer sends {receiver} to {url}: update RECEIVER_PATHS"
        );
    }
    let group_wait = Regex::new(r"(?m)^(\s*group_wait:[ \t]*)\S+").expect("regex");
    assert!(
        group_wait.is_match(&text),
        "alertmanager.yml has no group_wait"
    );
    let text = group_wait.replace_all(&text, "${1}1s");
    text.replace(SHIPPED_WEBHOOK_BASE, &format!("{webhook_base}/"))
}

/// Scrapes the exporter and evaluates the rules every second, alerting to Alertmanager. The job
/// name is the one PatchlagExporterAbsent expects.
fn prometheus_config(rule_files: &[&Path], exporter: &str, am_port: u16) -> String {
    let files: Vec<String> = rule_files
        .iter()
        .map(|p| serde_json::to_string(path_str(p)).expect("json"))
        .collect();
    format!(
        r#"global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [{files}]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:{am_port}"]
scrape_configs:
  - job_name: patchlag
    static_configs:
      - targets: ["{exporter}"]
"#,
        files = files.join(", ")
    )
}

fn count_matches(path: &Path, pattern: &str) -> usize {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Regex::new(pattern).expect("regex").find_iter(&text).count()
}

// ---------------------------------------------------------------------------------------------
// Rules and dashboard
// ---------------------------------------------------------------------------------------------

/// Every rule of both files is loaded and its last evaluation succeeded.
async fn check_rules(prom: &PrometheusApi, want: usize) -> Result<(), String> {
    let doc = get_json(&format!("{}/api/v1/rules", prom.base)).await?;
    let rules: Vec<&Value> = doc["data"]["groups"]
        .as_array()
        .ok_or("no groups")?
        .iter()
        .flat_map(|g| g["rules"].as_array().into_iter().flatten())
        .collect();
    if rules.len() != want {
        return Err(format!("{} rules loaded, {want} in the files", rules.len()));
    }
    for rule in rules {
        let name = rule["name"].as_str().unwrap_or("?");
        match rule["health"].as_str() {
            Some("ok") => {}
            Some("err") => panic!("rule {name} fails: {}", rule["lastError"]),
            other => return Err(format!("rule {name} not evaluated yet ({other:?})")),
        }
    }
    Ok(())
}

/// One query of a dashboard panel.
struct PanelQuery {
    panel: String,
    ref_id: String,
    expr: String,
    instant: bool,
    range: bool,
    /// The panel repeats per tier: Grafana sends one tier at a time.
    repeats_per_tier: bool,
}

fn dashboard_queries(root: &Path) -> Vec<PanelQuery> {
    let path = root.join("grafana/patchlag.json");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("dashboard"))
            .expect("dashboard JSON");
    let mut out = Vec::new();
    let mut stack: Vec<&Value> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .collect();
    while let Some(panel) = stack.pop() {
        stack.extend(panel["panels"].as_array().into_iter().flatten());
        for target in panel["targets"].as_array().into_iter().flatten() {
            let instant = target["instant"] == Value::Bool(true);
            out.push(PanelQuery {
                panel: panel["title"].as_str().unwrap_or("?").to_string(),
                ref_id: target["refId"].as_str().unwrap_or("?").to_string(),
                expr: target["expr"]
                    .as_str()
                    .expect("every target has an expr")
                    .to_string(),
                instant,
                // Grafana runs a range query unless the target is instant-only.
                range: target["range"] == Value::Bool(true) || !instant,
                repeats_per_tier: panel["repeat"] == "tier",
            });
        }
    }
    out
}

/// `expr` with Grafana's variables replaced as Grafana would for a 1-second scrape interval,
/// the last minute as time range, and `tier` as given.
fn grafana_expr(expr: &str, tier: &str) -> String {
    // Longer names first: $__interval is a prefix of $__interval_ms.
    let variables = [
        ("${__rate_interval}", "4s"),
        ("$__rate_interval", "4s"),
        ("${__interval}", "1s"),
        ("$__interval_ms", "1000"),
        ("$__interval", "1s"),
        ("${__range}", "1m"),
        ("$__range_s", "60"),
        ("$__range_ms", "60000"),
        ("$__range", "1m"),
        ("${tier:regex}", tier),
        ("${tier}", tier),
        ("$tier", tier),
    ];
    let mut out = expr.to_string();
    for (name, value) in variables {
        out = out.replace(name, value);
    }
    out
}

async fn check_dashboard(stack: &Stack) {
    let prom = &stack.prom;
    let tiers: Vec<String> = exporter_tiers(stack.exporter()).await;

    // The tier variable: label_values(patchlag_goal_seconds, tier).
    let url = url::Url::parse_with_params(
        &format!("{}/api/v1/label/tier/values", prom.base),
        &[("match[]", "patchlag_goal_seconds")],
    )
    .expect("url");
    let values = get_json(url.as_str()).await.expect("label values");
    let mut listed: Vec<String> = values["data"]
        .as_array()
        .expect("label values")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    listed.sort();
    assert_eq!(listed, tiers, "the tier variable's values");

    let queries = dashboard_queries(&repo_root());
    assert!(
        queries.len() > 20,
        "only {} queries in the dashboard",
        queries.len()
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let mut failures = Vec::new();
    let mut evaluated = 0;
    for q in &queries {
        // "All" (Grafana sends the allValue, .*), and each tier for repeated panels.
        let mut tier_values = vec![".*".to_string()];
        if q.repeats_per_tier {
            tier_values.extend(tiers.iter().cloned());
        }
        for tier in &tier_values {
            let expr = grafana_expr(&q.expr, tier);
            let what = format!("panel {:?} query {} (tier {tier})", q.panel, q.ref_id);
            if expr.contains('$') {
                failures.push(format!("{what}: unknown template variable in {expr}"));
                continue;
            }
            let mut results = Vec::new();
            if q.instant {
                results.push(("instant", prom.query(&expr).await));
            }
            if q.range {
                results.push(("range", prom.query_range(&expr, now - 60.0, now, 1.0).await));
            }
            for (kind, result) in results {
                evaluated += 1;
                match result {
                    Err(e) => failures.push(format!("{what}, {kind}: {e}\n    {expr}")),
                    Ok(series)
                        if !series
                            .iter()
                            .any(|s| s.values.iter().any(|v| v.is_finite())) =>
                    {
                        failures.push(format!(
                            "{what}, {kind}: no data ({} series)\n    {expr}",
                            series.len()
                        ))
                    }
                    Ok(_) => {}
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {evaluated} dashboard queries failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    stack.progress(&format!(
        "{evaluated} dashboard queries evaluated, each with data"
    ));
}

/// `tier_bulletin:patchlag_pair_status:code` (rules.yml) says of every pair what the exporter
/// says.
async fn check_recorded_status(stack: &Stack) -> Result<(), String> {
    let pairs = exporter_pairs(stack.exporter()).await?;
    let recorded = stack
        .prom
        .query("tier_bulletin:patchlag_pair_status:code")
        .await?;
    let got: BTreeMap<Pair, f64> = recorded
        .iter()
        .map(|s| (pair_of(&s.labels), s.last()))
        .collect();
    let want: BTreeMap<Pair, f64> = pairs.iter().map(|(p, s)| (p.clone(), s.code())).collect();
    if got != want {
        return Err(format!("recorded {got:?}\nexporter {want:?}"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Alerts
// ---------------------------------------------------------------------------------------------

/// Content alerts in Alertmanager against the exporter's pairs: overdue pages, at risk warns,
/// nothing else fires.
fn check_content_alerts(pairs: &BTreeMap<Pair, State>, alerts: &[AmAlert]) -> Result<(), String> {
    let mut overdue = BTreeSet::new();
    let mut at_risk = BTreeSet::new();
    for alert in alerts {
        let pair = pair_of(&alert.labels);
        match alert.name() {
            "PatchContentOverdue" => {
                let receiver = if pair.0 == "office365" {
                    "office365-admins-page"
                } else {
                    "patch-admins-page"
                };
                alert.expect("critical", receiver)?;
                overdue.insert(pair);
            }
            "PatchContentAtRisk" => {
                alert.expect("warning", "patch-admins-chat")?;
                at_risk.insert(pair);
            }
            other => return Err(format!("unexpected alert {other}: {alert:?}")),
        }
    }
    for (pair, state) in pairs {
        let alerted = overdue.contains(pair) || at_risk.contains(pair);
        let fine = match state {
            State::Met | State::Pending | State::ReleasedLate => !alerted,
            State::AtRisk => at_risk.contains(pair) && !overdue.contains(pair),
            State::Overdue => overdue.contains(pair) && !at_risk.contains(pair),
        };
        if !fine {
            return Err(format!(
                "{pair:?} is {state:?} but overdue alert: {}, at-risk alert: {}",
                overdue.contains(pair),
                at_risk.contains(pair)
            ));
        }
    }
    let known: BTreeSet<&Pair> = pairs.keys().collect();
    if let Some(stray) = overdue.iter().chain(&at_risk).find(|p| !known.contains(p)) {
        return Err(format!(
            "alert for {stray:?}, a pair the exporter does not report"
        ));
    }
    Ok(())
}

#[derive(Debug)]
struct AmAlert {
    labels: BTreeMap<String, String>,
    receivers: Vec<String>,
    state: String,
}

impl AmAlert {
    fn label(&self, name: &str) -> &str {
        self.labels
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }

    fn name(&self) -> &str {
        self.label("alertname")
    }

    /// Active (neither silenced nor inhibited), with this severity, routed to this receiver.
    fn expect(&self, severity: &str, receiver: &str) -> Result<(), String> {
        if self.state != "active"
            || self.label("severity") != severity
            || self.receivers != [receiver]
        {
            return Err(format!(
                "expected active, {severity}, to {receiver}: {self:?}"
            ));
        }
        Ok(())
    }
}

async fn alertmanager_alerts(base: &str) -> Result<Vec<AmAlert>, String> {
    let doc = get_json(&format!("{base}/api/v2/alerts")).await?;
    doc.as_array()
        .ok_or("not a list")?
        .iter()
        .map(|a| {
            Ok(AmAlert {
                labels: string_map(&a["labels"]),
                receivers: a["receivers"]
                    .as_array()
                    .ok_or("no receivers")?
                    .iter()
                    .filter_map(|r| r["name"].as_str().map(str::to_string))
                    .collect(),
                state: a["status"]["state"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            })
        })
        .collect()
}

/// The (tier, bulletin) pairs of the alerts `amtool alert query` lists for `matchers`.
fn amtool_query(amtool: &Path, base: &str, matchers: &[&str]) -> Result<BTreeSet<Pair>, String> {
    let output = Command::new(amtool)
        .args([
            "alert",
            "query",
            "--output=json",
            &format!("--alertmanager.url={base}"),
        ])
        .args(matchers)
        .output()
        .map_err(|e| format!("amtool: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "amtool: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let listed: Value =
        serde_json::from_slice(&output.stdout).map_err(|e| format!("amtool output: {e}"))?;
    Ok(listed
        .as_array()
        .ok_or("amtool output is not a list")?
        .iter()
        .map(|a| pair_of(&string_map(&a["labels"])))
        .collect())
}

// ---------------------------------------------------------------------------------------------
// The exporter's own view
// ---------------------------------------------------------------------------------------------

async fn exporter_pairs(exporter: &Exporter) -> Result<BTreeMap<Pair, State>, String> {
    let doc = get_json(&exporter.url("/api/v1/status")).await?;
    let mut pairs = BTreeMap::new();
    for bulletin in doc["bulletins"].as_array().ok_or("no bulletins")? {
        let id = bulletin["id"].as_str().ok_or("bulletin without id")?;
        for pair in bulletin["tiers"].as_array().ok_or("no tiers")? {
            let released = !pair["release"].is_null();
            let state = match (pair["status"].as_str(), released) {
                (Some("met"), _) => State::Met,
                (Some("pending"), _) => State::Pending,
                (Some("at risk"), _) => State::AtRisk,
                (Some("breached"), false) => State::Overdue,
                (Some("breached"), true) => State::ReleasedLate,
                (other, _) => return Err(format!("unknown status {other:?}")),
            };
            let tier = pair["tier"].as_str().ok_or("pair without tier")?;
            pairs.insert((tier.to_string(), id.to_string()), state);
        }
    }
    Ok(pairs)
}

async fn exporter_tiers(exporter: &Exporter) -> Vec<String> {
    let doc = get_json(&exporter.url("/api/v1/status"))
        .await
        .expect("status");
    let mut tiers: Vec<String> = doc["tiers"]
        .as_array()
        .expect("tiers")
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect();
    tiers.sort();
    tiers
}

fn with_state(pairs: &BTreeMap<Pair, State>, state: State) -> BTreeSet<Pair> {
    pairs
        .iter()
        .filter(|(_, s)| **s == state)
        .map(|(p, _)| p.clone())
        .collect()
}

fn pair_of(labels: &BTreeMap<String, String>) -> Pair {
    let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
    (get("tier"), get("bulletin"))
}

// ---------------------------------------------------------------------------------------------
// Prometheus HTTP API
// ---------------------------------------------------------------------------------------------

struct PrometheusApi {
    base: String,
}

#[derive(Debug)]
struct Series {
    labels: BTreeMap<String, String>,
    values: Vec<f64>,
}

impl Series {
    fn last(&self) -> f64 {
        self.values.last().copied().unwrap_or(f64::NAN)
    }
}

impl PrometheusApi {
    async fn query(&self, expr: &str) -> Result<Vec<Series>, String> {
        self.get("query", &[("query", expr.to_string())]).await
    }

    async fn query_range(
        &self,
        expr: &str,
        start: f64,
        end: f64,
        step: f64,
    ) -> Result<Vec<Series>, String> {
        let params = [
            ("query", expr.to_string()),
            ("start", format!("{start:.3}")),
            ("end", format!("{end:.3}")),
            ("step", step.to_string()),
        ];
        self.get("query_range", &params).await
    }

    async fn get(&self, endpoint: &str, params: &[(&str, String)]) -> Result<Vec<Series>, String> {
        let url = url::Url::parse_with_params(&format!("{}/api/v1/{endpoint}", self.base), params)
            .map_err(|e| e.to_string())?;
        let doc = get_json(url.as_str()).await?;
        if doc["status"] != "success" {
            return Err(format!("{doc}"));
        }
        if let Some(warnings) = doc.get("warnings") {
            return Err(format!("warnings: {warnings}"));
        }
        let data = &doc["data"];
        let result = &data["result"];
        let value = |pair: &Value| -> f64 {
            pair[1]
                .as_str()
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN)
        };
        match data["resultType"].as_str() {
            Some("scalar") => Ok(vec![Series {
                labels: BTreeMap::new(),
                values: vec![value(result)],
            }]),
            Some("vector") => Ok(result
                .as_array()
                .ok_or("no result")?
                .iter()
                .map(|s| Series {
                    labels: string_map(&s["metric"]),
                    values: vec![value(&s["value"])],
                })
                .collect()),
            Some("matrix") => Ok(result
                .as_array()
                .ok_or("no result")?
                .iter()
                .map(|s| Series {
                    labels: string_map(&s["metric"]),
                    values: s["values"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(value)
                        .collect(),
                })
                .collect()),
            other => Err(format!("unexpected result type {other:?}")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Processes and plumbing
// ---------------------------------------------------------------------------------------------

/// The outside programs this test drives.
struct Tools {
    prometheus: PathBuf,
    alertmanager: PathBuf,
    amtool: PathBuf,
}

impl Tools {
    fn find() -> Option<Tools> {
        // Debian installs Alertmanager as prometheus-alertmanager, upstream as alertmanager.
        Some(Tools {
            prometheus: tool(&["prometheus"])?,
            alertmanager: tool(&[
                "/usr/bin/prometheus-alertmanager",
                "prometheus-alertmanager",
                "alertmanager",
            ])?,
            amtool: tool(&["amtool"])?,
        })
    }
}

/// A program run for the test, killed when dropped, so that nothing outlives the test, failed
/// assertions included. Its output goes to a log file quoted when something goes wrong.
struct Daemon {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Daemon {
    fn start(name: &'static str, program: &Path, args: &[String], log: PathBuf) -> Daemon {
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({}): {e}", program.display()));
        Daemon { name, child, log }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!("--- last lines of the {} log ---\n{tail}", self.name)
    }

    async fn wait_ready(&mut self, url: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before it was ready\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            if let Ok(r) = reqwest::get(url).await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready at {url}\n{}",
                self.name,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free at the time of the call, for programs that do not report the port they
/// bound when given port 0.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Runs `check` until it succeeds, at most PATIENCE; then fails with its last complaint and the
/// programs' logs. The stack is asynchronous (scrapes, evaluations, notifications, and a real
/// clock that moves pairs from one state to the next), so observations are retried, not timed.
async fn eventually<T, F, Fut>(what: &str, stack: &Stack, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        let error = match check().await {
            Ok(value) => {
                stack.progress(what);
                return value;
            }
            Err(e) => e,
        };
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}: {error}\n{}", stack.logs());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// GETs `url` as JSON. An error answer is reported by its message (Prometheus: `error`), not
/// its URL, which for a query is long and says less than the query itself.
async fn get_json(url: &str) -> Result<Value, String> {
    let response = reqwest::get(url)
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let doc: Result<Value, _> = serde_json::from_str(&body);
    match doc {
        Ok(doc) if status.is_success() => Ok(doc),
        Ok(doc) if doc["error"].is_string() => Err(format!("{status}: {}", doc["error"])),
        _ => Err(format!("{status}: {body}")),
    }
}

fn string_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
        .collect()
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}
