//! `report --format html`: the compliance report as one self-contained page for the people who
//! escalate to a vendor. Inline CSS and SVG only (no script, no external asset), so it opens
//! from an e-mail attachment, works air-gapped and prints: landscape pages, one tier per page.
//!
//! It renders the same `Report` as the other formats, so every number agrees with them, plus
//! what a reader needs to trust it: the method in plain words, from this configuration.

use std::fmt::Write as _;
use std::path::Path;

use super::{PairRow, Report, TierRow};
use crate::build_info::BUILD;
use crate::chart::{self, Chart, Mark, Point};
use crate::config::{Config, SourceConfig};
use crate::html::{badge, escape, hours, small, status_class, time_tag, utc};
use crate::model::TierSpec;
use crate::sources::fetch::redact_url;
use crate::sources::Role;

/// What the page says about how it was made, beside the report itself.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub config: &'a Config,
    /// The model's tiers, for when each tier's release sources were first polled.
    pub tiers: &'a [TierSpec],
    /// The database the report was read from.
    pub store: &'a Path,
    /// When pending pairs were evaluated.
    pub now: i64,
    pub since: Option<i64>,
    pub until: Option<i64>,
}

const CHART_WIDTH: f64 = 1000.0;
const CHART_HEIGHT: f64 = 270.0;

const STYLE: &str = r#"
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--head:#f6f8fa;
--met-bg:#dafbe1;--met-fg:#116329;--pending-bg:#ddf4ff;--pending-fg:#0a4a8f;
--risk-bg:#fff1c2;--risk-fg:#7a4e00;--breached-bg:#ffebe9;--breached-fg:#a40e26}
*{box-sizing:border-box}
body{margin:0 auto;padding:24px 28px 40px;max-width:1100px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:#fff}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:20px;margin:0 0 4px}
h3{font-size:15px;margin:18px 0 4px}
p{margin:4px 0 8px}
.muted,small{color:var(--muted)}
small{display:block;font-size:12px}
header{border-bottom:2px solid var(--fg);padding-bottom:10px;margin-bottom:18px}
header p{margin:2px 0}
section{margin:0 0 28px}
.headline{font-size:16px;margin:6px 0 10px}
table{border-collapse:collapse;width:100%;margin:6px 0 10px}
th,td{border:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
thead th{background:var(--head);font-weight:600}
tbody th{font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
time{white-space:nowrap}
td.bad{color:var(--breached-fg);font-weight:700}
.ratio{font-weight:700}
table.pairs{font-size:13px}
table.pairs th,table.pairs td{white-space:nowrap}
table.pairs td.title{white-space:normal;width:100%}
table.totals{width:auto}
table.totals td{min-width:7em}
.badge{display:inline-block;padding:0 7px;border-radius:9px;font-size:12px;font-weight:600;white-space:nowrap;border:1px solid currentColor}
.badge.met{background:var(--met-bg);color:var(--met-fg)}
.badge.pending{background:var(--pending-bg);color:var(--pending-fg)}
.badge.at-risk{background:var(--risk-bg);color:var(--risk-fg)}
.badge.breached{background:var(--breached-bg);color:var(--breached-fg)}
tr.breached td{background:#fff8f7}
figure{margin:4px 0 10px}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;margin:6px 0}
dl.facts dt{font-weight:600}dl.facts dd{margin:0}
code{font-size:12.5px}
a{color:inherit}
.badge,td,tr,svg.chart,ul.chart-legend{-webkit-print-color-adjust:exact;print-color-adjust:exact}
@page{size:landscape;margin:12mm}
@media print{
body{padding:0;max-width:none;font-size:10.5pt}
th,td{padding:3px 6px}
.headline{margin:2px 0 4px}
figure{margin:2px 0 4px}
section.tier{break-before:page}
h2,h3{break-after:avoid}
figure,tr,table.totals{break-inside:avoid}
thead{display:table-header-group}
a{text-decoration:none}
}
"#;

/// The page, as one string.
pub fn render(report: &Report, ctx: &Context) -> String {
    let mut page = String::with_capacity(16 * 1024 + 600 * report.pairs.len());
    let period = period(report, ctx);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Patch content against service goals: {}</title>\n<style>{STYLE}{}</style>\n\
         </head>\n<body>\n",
        escape(&period),
        chart::STYLE
    );
    // The first page answers "how did the vendor do, and how do we know"; then one page per
    // tier with its chart and every bulletin.
    header(&mut page, report, ctx, &period);
    method(&mut page, report, ctx, &period);
    let (from, to) = chart_period(report, ctx);
    for tier in &report.tiers {
        let pairs: Vec<&PairRow> = report
            .pairs
            .iter()
            .filter(|p| p.tier == tier.tier)
            .collect();
        tier_section(&mut page, tier, &pairs, ctx, from, to);
    }
    page.push_str("</body>\n</html>\n");
    page
}

fn goal_of(ctx: &Context, tier: &str) -> i64 {
    ctx.config.tier(tier).map_or(0, |t| t.goal.as_secs() as i64)
}

/// The bulletins the report covers, in words.
fn period(report: &Report, ctx: &Context) -> String {
    let mut text = match (ctx.since, ctx.until) {
        (Some(s), Some(u)) => format!("bulletins published from {} to {}", utc(s), utc(u)),
        (Some(s), None) => format!("bulletins published since {}", utc(s)),
        (None, Some(u)) => format!("bulletins published before {}", utc(u)),
        (None, None) => "every bulletin in the store".to_string(),
    };
    let published = || report.pairs.iter().map(|p| p.published);
    if let (Some(first), Some(last)) = (published().min(), published().max()) {
        let day = |t: i64| utc(t).chars().take(10).collect::<String>();
        let _ = write!(text, " (evaluated: {} to {})", day(first), day(last));
    }
    text
}

/// The charts' time axis, the same for every tier so that they compare: the requested period,
/// or the first bulletin's publication, up to the report's end or now.
fn chart_period(report: &Report, ctx: &Context) -> (i64, i64) {
    let first = report.pairs.iter().map(|p| p.published).min();
    let to = ctx.until.map_or(ctx.now, |u| u.min(ctx.now));
    let from = ctx.since.or(first).unwrap_or(to).min(to);
    (from, to)
}

fn ratio(t: &TierRow) -> String {
    match t.goal_met_ratio {
        Some(r) => format!(
            "<span class=\"ratio\">{:.1} %</span><small>{} of {} decided</small>",
            r * 100.0,
            t.met,
            t.met + t.breached
        ),
        None => "<span class=\"ratio\">–</span><small>none decided yet</small>".to_string(),
    }
}

fn header(page: &mut String, report: &Report, ctx: &Context, period: &str) {
    let _ = write!(
        page,
        "<header>\n<h1>Patch content against service goals</h1>\n\
         <p class=\"period\">{}, status as of {}. All times UTC.</p>\n\
         <p class=\"muted\">How long the vendor took to release content after each security \
         bulletin, tier by tier, against the tier's goal. <a href=\"#method\">How this was \
         measured</a> follows the summary; then one page per tier.</p>\n</header>\n",
        capitalize(period),
        time_tag(ctx.now),
    );
    page.push_str(
        "<section class=\"summary\" aria-labelledby=\"summary-h\">\n<h2 id=\"summary-h\">Summary</h2>\n\
         <table id=\"summary\">\n<thead><tr><th scope=\"col\">Tier</th><th scope=\"col\" class=\"num\">Goal</th>\
         <th scope=\"col\" class=\"num\">Bulletins evaluated</th><th scope=\"col\" class=\"num\">Met</th>\
         <th scope=\"col\" class=\"num\">Breached</th><th scope=\"col\" class=\"num\">Pending</th>\
         <th scope=\"col\" class=\"num\">Goal met</th></tr></thead>\n<tbody>\n",
    );
    for t in &report.tiers {
        let description = ctx
            .config
            .tier(&t.tier)
            .map(|c| c.description.as_str())
            .unwrap_or_default();
        let _ = writeln!(
            page,
            "<tr data-tier=\"{0}\"><th scope=\"row\"><a href=\"#tier-{0}\">{0}</a>{1}</th>\
             <td class=\"num\">{2}</td><td class=\"num\">{3}</td><td class=\"num\">{4}</td>\
             <td class=\"num{5}\">{6}</td><td class=\"num\">{7}</td><td class=\"num\">{8}</td></tr>",
            escape(&t.tier),
            small(description),
            hours(goal_of(ctx, &t.tier)),
            t.pairs,
            t.met,
            if t.breached > 0 { " bad" } else { "" },
            t.breached,
            t.pending,
            ratio(t),
        );
    }
    page.push_str("</tbody>\n</table>\n");
    if report.tiers.iter().all(|t| t.pairs == 0) {
        page.push_str(
            "<p>No bulletin was evaluated in this period: no bulletin was published in it, or \
             the release data does not reach back far enough to judge one (see the method).</p>\n",
        );
    }
    page.push_str("</section>\n");
}

fn headline(t: &TierRow, goal: i64, overdue: usize) -> String {
    if t.pairs == 0 {
        return "No bulletin evaluated in this period.".to_string();
    }
    let bulletins = if t.pairs == 1 {
        "bulletin"
    } else {
        "bulletins"
    };
    let mut s = format!(
        "{} {bulletins}: <strong>{} met</strong> the {} goal, <strong>{} breached</strong> it",
        t.pairs,
        t.met,
        hours(goal),
        t.breached
    );
    if overdue > 0 {
        let _ = write!(s, " ({overdue} still without content)");
    }
    let _ = write!(s, ", {} pending.", t.pending);
    s
}

fn tier_section(
    page: &mut String,
    t: &TierRow,
    pairs: &[&PairRow],
    ctx: &Context,
    from: i64,
    to: i64,
) {
    let goal = goal_of(ctx, &t.tier);
    let name = escape(&t.tier);
    let description = ctx
        .config
        .tier(&t.tier)
        .map(|c| c.description.as_str())
        .unwrap_or_default();
    let _ = write!(
        page,
        "<section class=\"tier\" id=\"tier-{name}\" data-tier=\"{name}\" aria-labelledby=\"tier-{name}-h\">\n\
         <h2 id=\"tier-{name}-h\">{name} <span class=\"muted\">· goal {}</span></h2>\n",
        hours(goal)
    );
    if !description.is_empty() {
        let _ = writeln!(page, "<p class=\"muted\">{}</p>", escape(description));
    }
    let points: Vec<Point> = pairs
        .iter()
        .map(|p| Point {
            at: p.published,
            delay: p.delay_seconds,
            mark: Mark::of(p.status, p.release.is_none()),
            name: p.bulletin.clone(),
        })
        .collect();
    let overdue = points.iter().filter(|p| p.mark == Mark::Overdue).count();
    let _ = writeln!(
        page,
        "<p class=\"headline\">{}</p>",
        headline(t, goal, overdue)
    );
    let title = format!(
        "{}: hours from each bulletin to its content, against the {} goal",
        t.tier,
        hours(goal)
    );
    let legend: Vec<(Mark, Option<usize>)> = chart::counts(&points)
        .into_iter()
        .map(|(m, c)| (m, Some(c)))
        .collect();
    let _ = writeln!(
        page,
        "<figure>{}{}</figure>",
        chart::legend(&legend),
        Chart {
            title: &title,
            width: CHART_WIDTH,
            height: CHART_HEIGHT,
            from,
            to,
            goal,
            points: &points,
        }
        .svg()
    );
    let _ = writeln!(
        page,
        "<table class=\"totals\"><thead><tr><th scope=\"col\" class=\"num\">Bulletins</th>\
         <th scope=\"col\" class=\"num\">Met</th><th scope=\"col\" class=\"num\">Breached</th>\
         <th scope=\"col\" class=\"num\">Pending</th><th scope=\"col\" class=\"num\">Goal met</th></tr></thead>\
         <tbody><tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num{}\">{}</td>\
         <td class=\"num\">{}</td><td class=\"num\">{}</td></tr></tbody></table>",
        t.pairs,
        t.met,
        if t.breached > 0 { " bad" } else { "" },
        t.breached,
        t.pending,
        ratio(t)
    );
    if pairs.is_empty() {
        page.push_str("</section>\n");
        return;
    }
    page.push_str(
        "<table class=\"pairs\">\n<thead><tr><th scope=\"col\">Bulletin</th><th scope=\"col\">Title</th>\
         <th scope=\"col\">Published</th><th scope=\"col\">Covering release</th>\
         <th scope=\"col\">Released</th><th scope=\"col\" class=\"num\">Delay</th>\
         <th scope=\"col\">Status</th></tr></thead>\n<tbody>\n",
    );
    for p in pairs {
        let published = time_tag(p.published);
        let release = match (&p.release, p.release_published) {
            (Some(id), Some(at)) => format!("<td>{}</td><td>{}</td>", escape(id), time_tag(at)),
            _ => "<td colspan=\"2\" class=\"muted\">none yet</td>".to_string(),
        };
        let class = status_class(p.status);
        let waiting = small(if p.release.is_none() {
            "no content yet"
        } else {
            ""
        });
        let _ = writeln!(
            page,
            "<tr class=\"{class}\" data-bulletin=\"{}\"><th scope=\"row\">{}</th><td class=\"title\">{}</td><td>{published}</td>\
             {release}<td class=\"num\">{}</td><td>{}{waiting}</td></tr>",
            escape(&p.bulletin),
            escape(&p.bulletin),
            escape(&p.title),
            hours(p.delay_seconds),
            badge(p.status),
        );
    }
    page.push_str("</tbody>\n</table>\n</section>\n");
}

fn method(page: &mut String, report: &Report, ctx: &Context, period: &str) {
    let config = ctx.config;
    page.push_str(
        "<section class=\"method\" id=\"method\" aria-labelledby=\"method-h\">\n\
         <h2 id=\"method-h\">How these numbers were measured</h2>\n\
         <h3>Clocks</h3>\n<p>A tier's clock starts when one of its bulletin sources publishes a \
         security bulletin, and stops at the tier's first content release that covers it. Each \
         source is polled periodically and everything it ever listed is kept, so history does \
         not change when a source drops old entries.</p>\n\
         <table id=\"clocks\">\n<thead><tr><th scope=\"col\">Tier</th><th scope=\"col\" class=\"num\">Goal</th>\
         <th scope=\"col\">Clock started by</th><th scope=\"col\">Clock stopped by</th></tr></thead>\n<tbody>\n",
    );
    let mut shown: Vec<&SourceConfig> = Vec::new();
    for t in &report.tiers {
        let Some(tier) = config.tier(&t.tier) else {
            continue;
        };
        let starts: Vec<&SourceConfig> = tier
            .bulletin_sources
            .iter()
            .filter_map(|s| config.source(s))
            .collect();
        let stops = config.release_sources_of(&tier.name);
        let names = |sources: &[&SourceConfig]| {
            if sources.is_empty() {
                "none configured".to_string()
            } else {
                sources
                    .iter()
                    .map(|s| escape(&s.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let _ = writeln!(
            page,
            "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            escape(&tier.name),
            hours(tier.goal.as_secs() as i64),
            names(&starts),
            names(&stops)
        );
        for source in starts.into_iter().chain(stops) {
            if !shown.iter().any(|s| s.name == source.name) {
                shown.push(source);
            }
        }
    }
    page.push_str(
        "</tbody>\n</table>\n<table id=\"sources\">\n<thead><tr><th scope=\"col\">Source</th>\
         <th scope=\"col\">Role</th><th scope=\"col\">What it is</th><th scope=\"col\">Address</th></tr></thead>\n<tbody>\n",
    );
    shown.sort_by(|a, b| (a.role.as_str(), &a.name).cmp(&(b.role.as_str(), &b.name)));
    for source in shown {
        let role = match source.role {
            Role::Bulletins => "starts clocks (bulletins)",
            Role::Releases => "stops clocks (releases)",
        };
        let _ = writeln!(
            page,
            "<tr><th scope=\"row\">{}</th><td>{role}</td><td>{}</td><td><code>{}</code></td></tr>",
            escape(&source.name),
            escape(&source.parser.describe()),
            escape(&redact_url(&source.url))
        );
    }
    page.push_str("</tbody>\n</table>\n");
    let _ = write!(
        page,
        "<h3>How a wait is measured</h3>\n<ul>\n\
         <li>The <em>covering release</em> of a bulletin is the tier's earliest release that \
         names the bulletin among those it covers (the release source's <code>covers</code>). \
         When no release of the tier names it, it is the tier's earliest release published at \
         or after the bulletin that names no bulletin at all: a release that names bulletins \
         counts only for those.</li>\n\
         <li>The <em>delay</em> is the covering release's time minus the bulletin's time, never \
         below zero. While there is no covering release, the delay runs from the bulletin to \
         the time of this report ({}), and keeps growing.</li>\n\
         <li><strong>met</strong>: content released within the goal. <strong>breached</strong>: \
         the delay passed the goal, whether content came late or has not come yet. \
         <strong>pending</strong>: no content yet, within the goal (<strong>at risk</strong> \
         once {:.0} % of the goal has passed).</li>\n\
         <li><em>Goal met</em> is met ÷ (met + breached): the share of decided bulletins whose \
         content came within the goal. Pending bulletins count once they are decided.</li>\n\
         </ul>\n",
        utc(ctx.now),
        config.metrics.at_risk_ratio * 100.0
    );
    page.push_str(
        "<h3>Which bulletins are evaluated</h3>\n<p>Only those the data can judge, so that no \
         delay or breach is claimed that the data cannot support: a bulletin published on or \
         after the tier's start date (if it has one), and for which either the tier's release \
         history reaches back to before the bulletin, or the tier's release sources were \
         already being watched by its deadline (publication + goal). Other bulletins are left \
         out, neither met nor breached.</p>\n<ul>\n",
    );
    for t in &report.tiers {
        let Some(tier) = config.tier(&t.tier) else {
            continue;
        };
        let since = match tier.since {
            Some(s) => format!("bulletins from {}", time_tag(s)),
            None => "no start date".to_string(),
        };
        let watched = match ctx
            .tiers
            .iter()
            .find(|s| s.name == tier.name)
            .and_then(|s| s.first_release_poll)
        {
            Some(f) => format!("release sources watched since {}", time_tag(f)),
            None => "release sources not successfully polled yet".to_string(),
        };
        let _ = writeln!(
            page,
            "<li><strong>{}</strong>: {since}; {watched}.</li>",
            escape(&tier.name)
        );
    }
    page.push_str(
        "</ul>\n<h3>Times</h3>\n<p>All times are UTC (Coordinated Universal Time). Times a \
         source writes without an offset are read in that source's configured time zone \
         (<code>timezone</code>, UTC unless set) and shown here in UTC.</p>\n",
    );
    let tiers = report
        .tiers
        .iter()
        .map(|t| escape(&t.tier))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = write!(
        page,
        "<h3>This report</h3>\n<dl class=\"facts\">\
         <dt>Generated</dt><dd>{}</dd>\
         <dt>By</dt><dd>patchlag-exporter {} (revision {})</dd>\
         <dt>From the store</dt><dd><code>{}</code></dd>\
         <dt>Configuration</dt><dd><code>{}</code></dd>\
         <dt>Covers</dt><dd>{}; tiers {tiers}</dd></dl>\n\
         <p class=\"muted\">Goals are goals, not guarantees. The numbers come from periodically \
         polled sources; a release is dated as its source dates it.</p>\n</section>\n",
        time_tag(ctx.now),
        escape(BUILD.version),
        escape(BUILD.revision),
        escape(&absolute(ctx.store)),
        escape(&absolute(&config.file)),
        escape(period),
    );
}

fn absolute(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::PathBuf;

    const CONFIG: &str = r#"
tiers:
  english:
    goal: 24h
    description: "<i>English</i>"
    bulletins: [msrc]
    since: 2024-01-01
sources:
  msrc:
    role: bulletins
    kind: msrc
    url: https://user:pa55word@msrc.example.invalid/updates
  vendor:
    role: releases
    kind: json
    url: file:///srv/releases.json
    items: $.releases[*]
    id: $.id
    published: $.time
    timezone: America/Chicago
    tiers: [english]
"#;

    fn pair(bulletin: &str, delay_h: i64, status: &'static str, released: bool) -> PairRow {
        PairRow {
            tier: "english".into(),
            bulletin: bulletin.into(),
            title: format!("<b>{bulletin}</b>"),
            published: 1_704_823_200, // 2024-01-09T18:00:00Z
            release: released.then(|| format!("r-{bulletin}")),
            release_published: released.then_some(1_704_931_200), // 2024-01-11T00:00:00Z
            delay_seconds: delay_h * 3600,
            goal_seconds: 86400,
            status,
        }
    }

    fn render_with(report: &Report) -> String {
        let config = Config::parse(Path::new("patchlag.yml"), CONFIG).expect("valid");
        let tiers = [TierSpec {
            name: "english".into(),
            goal: 86400,
            since: None,
            bulletin_sources: vec!["msrc".into()],
            first_release_poll: Some(1_704_067_200),
        }];
        render(
            report,
            &Context {
                config: &config,
                tiers: &tiers,
                store: &PathBuf::from("/nonexistent/patchlag.db"),
                now: 1_712_779_200,
                since: Some(1_704_067_200),
                until: None,
            },
        )
    }

    #[test]
    fn the_page_says_what_it_measured_and_how() {
        let report = Report {
            pairs: vec![
                pair("2024-Jan", 30, "breached", true),
                pair("2024-Feb", 500, "breached", false),
                pair("2024-Mar", 10, "met", true),
            ],
            tiers: vec![TierRow {
                tier: "english".into(),
                pairs: 3,
                met: 1,
                breached: 2,
                pending: 0,
                goal_met_ratio: Some(1.0 / 3.0),
            }],
        };
        let html = render_with(&report);
        assert!(html.contains("Bulletins published since 2024-01-01 00:00 UTC"));
        assert!(html.contains(
            "3 bulletins: <strong>1 met</strong> the 24 h goal, <strong>2 breached</strong> it \
             (1 still without content), 0 pending."
        ));
        assert!(html.contains("<span class=\"ratio\">33.3 %</span><small>1 of 3 decided</small>"));
        assert!(html.contains("<td class=\"num\">500 h</td>"));
        assert!(html.contains("breached: still no content, past the goal (1)"));
        // The method: sources (without their passwords), zones, the rule, the store.
        assert!(html.contains(
            "<tr><th scope=\"row\">english</th><td class=\"num\">24 h</td><td>msrc</td><td>vendor</td></tr>"
        ));
        assert!(html.contains(
            "<tr><th scope=\"row\">msrc</th><td>starts clocks (bulletins)</td><td>Microsoft \
             Security Response Center (CVRF index): a monthly release&#39;s clock starts at 10:00 \
             America/Los_Angeles on its release day; an out-of-band update found in a month&#39;s \
             document starts when first seen, or at the same time of its day for history</td>\
             <td><code>https://user:xxxxx@msrc.example.invalid/updates</code></td></tr>"
        ));
        assert!(!html.contains("pa55word"));
        assert!(html.contains(
            "<td>JSON document: a release is dated by the value its published JSONPath \
             selects</td>"
        ));
        assert!(html.contains(
            "<strong>english</strong>: bulletins from <time datetime=\"2024-01-01T00:00:00Z\">"
        ));
        assert!(html.contains("<code>/nonexistent/patchlag.db</code>"));
        // A page per tier when printed, landscape.
        assert!(html.contains("@page{size:landscape;margin:12mm}"));
        assert!(html.contains("section.tier{break-before:page}"));
    }

    #[test]
    fn what_sources_send_is_escaped() {
        let report = Report {
            pairs: vec![pair("<script>x</script>", 5, "met", true)],
            tiers: vec![TierRow {
                tier: "english".into(),
                pairs: 1,
                met: 1,
                breached: 0,
                pending: 0,
                goal_met_ratio: Some(1.0),
            }],
        };
        let html = render_with(&report);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<b>"));
        assert!(!html.contains("<i>"));
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"));
    }

    #[test]
    fn an_empty_period_says_so() {
        let report = Report {
            pairs: vec![],
            tiers: vec![TierRow {
                tier: "english".into(),
                pairs: 0,
                met: 0,
                breached: 0,
                pending: 0,
                goal_met_ratio: None,
            }],
        };
        let html = render_with(&report);
        assert!(html.contains("No bulletin was evaluated in this period"));
        assert!(html.contains("No bulletin evaluated in this period."));
        assert!(html.contains("no bulletin evaluated in this period</text>"));
        assert!(html.contains("none decided yet"));
    }
}
