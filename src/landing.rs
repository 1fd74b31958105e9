//! The landing page `/`: one self-contained HTML page (inline CSS, no script, no external
//! asset, so it works air-gapped and behind any proxy) that answers a patch administrator's two
//! questions at a glance: is the current content late, and how often has the vendor met its
//! goals. Every colour comes with a text label (the charts' markers differ in shape and fill),
//! and the tables have real headers.

use std::fmt::Write as _;

use chrono::DateTime;

use crate::chart::{self, Chart, Mark, Point};
use crate::html::{badge, escape as esc, small, status_class};
use crate::snapshot::Snapshot;
use crate::status::{status_doc, CurrentDoc, PairDoc, SourceDoc, StatusDoc, TierDoc};

/// Renders the page for the snapshot at `now`.
pub fn render(snapshot: &Snapshot, now: i64, telemetry_path: &str) -> String {
    let doc = status_doc(snapshot, now);
    let mut page = Page {
        html: String::with_capacity(32 * 1024),
        now,
    };
    page.head(&doc, telemetry_path);
    page.charts(&doc);
    page.tiers(&doc);
    page.grid(&doc);
    page.sources(&doc.sources);
    page.legend(&doc);
    page.html.push_str("</main>\n</body>\n</html>\n");
    page.html
}

const STYLE: &str = r#"
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#fff;--head:#f6f8fa;
--met-bg:#dafbe1;--met-fg:#116329;--pending-bg:#ddf4ff;--pending-fg:#0a4a8f;
--risk-bg:#fff1c2;--risk-fg:#7a4e00;--breached-bg:#ffebe9;--breached-fg:#a40e26;
--none-bg:#f6f8fa;--none-fg:#59636e}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
header{background:#24292f;color:#fff;padding:14px 28px;display:flex;flex-wrap:wrap;align-items:baseline;gap:6px 24px}
header h1{font-size:20px;margin:0;font-weight:600}
header p{margin:0;color:#d1d9e0;font-size:13px}
header nav{margin-left:auto;font-size:14px}
header nav a{color:#fff;margin-left:16px}
main{padding:8px 28px 32px;max-width:1280px}
h2{font-size:17px;margin:28px 0 4px}
p.note{margin:0 0 10px;color:var(--muted);font-size:13px}
table{border-collapse:collapse;width:100%;font-size:14px}
caption{text-align:left;color:var(--muted);font-size:13px;padding:0 0 6px}
th,td{border:1px solid var(--line);padding:6px 9px;text-align:left;vertical-align:top}
thead th{background:var(--head);font-weight:600;white-space:nowrap}
tbody th{font-weight:600;background:#fff}
small,.sub{display:block;color:var(--muted);font-size:12px;font-weight:400}
.num{text-align:right;font-variant-numeric:tabular-nums}
time{white-space:nowrap}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12.5px;font-weight:600;white-space:nowrap;border:1px solid currentColor}
.met .badge,.badge.met,.badge.up{background:var(--met-bg);color:var(--met-fg)}
.pending .badge,.badge.pending{background:var(--pending-bg);color:var(--pending-fg)}
.at-risk .badge,.badge.at-risk{background:var(--risk-bg);color:var(--risk-fg)}
.breached .badge,.badge.breached,.badge.down{background:var(--breached-bg);color:var(--breached-fg)}
.badge.never{background:var(--none-bg);color:var(--none-fg)}
td.met{background:var(--met-bg)}td.pending{background:var(--pending-bg)}
td.at-risk{background:var(--risk-bg)}td.breached{background:var(--breached-bg)}
td.none{background:var(--none-bg);color:var(--none-fg);text-align:center}
td.cell .badge{background:#fff}
#bulletins td.cell{width:17%}#bulletins td:nth-of-type(1){width:12em}
.gauge{position:relative;height:10px;min-width:180px;background:#eaeef2;border-radius:5px;margin:6px 0 3px;overflow:hidden}
.gauge .fill{position:absolute;left:0;top:0;bottom:0;border-radius:5px}
.gauge .risk{position:absolute;top:0;bottom:0;width:2px;background:#7a4e00;opacity:.55}
.fill.met{background:#2da44e}.fill.pending{background:#218bff}.fill.at-risk{background:#d4a72c}
.fill.breached{background:repeating-linear-gradient(45deg,#cf222e 0 6px,#e5534b 6px 12px)}
.ratio{font-size:18px;font-weight:600;font-variant-numeric:tabular-nums}
.overdue{color:var(--breached-fg);font-size:13px;margin-top:4px}
.err{color:var(--breached-fg);font-size:13px}
code{font-size:12.5px}
dl.legend{display:grid;grid-template-columns:max-content 1fr;gap:4px 12px;font-size:13px;margin:6px 0}
dl.legend dd{margin:0;color:var(--muted)}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:10px 28px}
.charts figure{margin:0}
.charts figcaption{font-weight:600;font-size:14px}
.charts figcaption small{display:inline;margin-left:2px}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
"#;

struct Page {
    html: String,
    now: i64,
}

impl Page {
    fn push(&mut self, s: &str) {
        self.html.push_str(s);
    }

    fn head(&mut self, doc: &StatusDoc, telemetry_path: &str) {
        let _ = write!(
            self.html,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>patchlag-exporter</title>\n<style>{STYLE}{}</style>\n</head>\n<body>\n\
             <header>\n<h1>patchlag-exporter</h1>\n\
             <p id=\"build\">version {} · revision {} · rustc {} · as of {}</p>\n\
             <nav aria-label=\"Endpoints\"><a href=\"{}\">Metrics</a><a href=\"api/v1/status\">Status API</a>\
             <a href=\"-/healthy\">Health</a><a href=\"-/ready\">Readiness</a></nav>\n</header>\n<main>\n",
            chart::STYLE,
            esc(doc.version),
            esc(doc.revision),
            esc(doc.rustc_version),
            time_tag(&doc.now),
            esc(telemetry_path.trim_start_matches('/')),
        );
    }

    /// One chart per tier of the series window's bulletins, above the tables.
    fn charts(&mut self, doc: &StatusDoc) {
        let window = days(doc.series_window_seconds);
        let _ = write!(
            self.html,
            "<section aria-labelledby=\"charts-h\">\n<h2 id=\"charts-h\">Delays in the last {window}</h2>\n\
             <p class=\"note\">Every bulletin of the last {window} by tier: the hours from the bulletin \
             to its content release (or until now, while there is none) against the tier's goal.</p>\n",
        );
        let points: Vec<Vec<Point>> = doc
            .tiers
            .iter()
            .map(|t| {
                doc.bulletins
                    .iter()
                    .filter_map(|b| {
                        let p = b.tiers.iter().find(|p| p.tier == t.name)?;
                        Some(Point {
                            at: self.now - b.age_seconds,
                            delay: p.delay_seconds,
                            mark: Mark::of(p.status, p.pending),
                            name: b.id.clone(),
                        })
                    })
                    .collect()
            })
            .collect();
        let present: Vec<(Mark, Option<usize>)> = Mark::ALL
            .into_iter()
            .filter(|m| points.iter().flatten().any(|p| p.mark == *m))
            .map(|m| (m, None))
            .collect();
        if !present.is_empty() {
            self.push(&chart::legend(&present));
        }
        self.push("<div class=\"charts\">\n");
        for (t, points) in doc.tiers.iter().zip(&points) {
            let title = format!(
                "{}: hours from each bulletin of the last {window} to its content, against the {} goal",
                t.name,
                hours(t.goal_seconds)
            );
            let svg = Chart {
                title: &title,
                width: 620.0,
                height: 250.0,
                from: self.now - doc.series_window_seconds,
                to: self.now,
                goal: t.goal_seconds,
                points,
            }
            .svg();
            let _ = writeln!(
                self.html,
                "<figure data-tier=\"{0}\"><figcaption>{0} <small>goal {1}</small></figcaption>{svg}</figure>",
                esc(&t.name),
                hours(t.goal_seconds)
            );
        }
        self.push("</div>\n</section>\n");
    }

    fn tiers(&mut self, doc: &StatusDoc) {
        self.push(
            "<section aria-labelledby=\"tiers-h\">\n<h2 id=\"tiers-h\">Current content by tier</h2>\n\
             <p class=\"note\">The newest bulletin of each tier and how long its content took, or has been \
             waiting, against the tier's goal.</p>\n\
             <table id=\"tiers\">\n<thead><tr><th scope=\"col\">Tier</th><th scope=\"col\">Goal</th>\
             <th scope=\"col\">Current bulletin</th><th scope=\"col\">Status</th>\
             <th scope=\"col\">Hours since bulletin</th><th scope=\"col\">Content release</th>",
        );
        let _ = write!(
            self.html,
            "<th scope=\"col\">Goal met, last {}</th></tr></thead>\n<tbody>\n",
            days(doc.compliance_window_seconds)
        );
        for t in &doc.tiers {
            self.tier_row(t, doc.at_risk_ratio);
        }
        self.push("</tbody>\n</table>\n</section>\n");
    }

    fn tier_row(&mut self, t: &TierDoc, at_risk_ratio: f64) {
        let _ = write!(
            self.html,
            "<tr data-tier=\"{0}\"><th scope=\"row\">{0}{1}</th><td class=\"num\">{2}</td>",
            esc(&t.name),
            small(&t.description),
            hours(t.goal_seconds),
        );
        match &t.current {
            None => self.push(
                "<td colspan=\"4\" class=\"none\">no bulletin evaluated yet \
                 (waiting for the first polls, or no release data reaching back far enough)</td>",
            ),
            Some(c) => self.current_cells(c, at_risk_ratio, &t.overdue),
        }
        let ratio = match t.goal_met_ratio {
            Some(r) => format!(
                "<span class=\"ratio\">{:.1}%</span><small>{} of {} pairs due</small>",
                r * 100.0,
                t.goal_met,
                t.goal_due
            ),
            None => "<span class=\"ratio\">–</span><small>no deadline in the window</small>".into(),
        };
        let _ = writeln!(self.html, "<td class=\"num goal-met\">{ratio}</td></tr>");
    }

    fn current_cells(&mut self, c: &CurrentDoc, at_risk_ratio: f64, overdue: &[String]) {
        let p = &c.pair;
        let _ = write!(
            self.html,
            "<td>{}{}<small>published {}</small></td>",
            esc(&c.bulletin),
            small(&c.title),
            time_tag(&c.published)
        );
        let _ = write!(
            self.html,
            "<td class=\"status {}\">{}",
            status_class(p.status),
            badge(p.status)
        );
        if !overdue.is_empty() {
            let _ = write!(
                self.html,
                "<div class=\"overdue\">older, still missing past goal: {}</div>",
                esc(&overdue.join(", "))
            );
        }
        self.push("</td>");
        let _ = write!(
            self.html,
            "<td class=\"progress\">{}<span>{}</span><small>{}</small></td>",
            gauge(p, at_risk_ratio),
            progress_text(p),
            deadline_text(p, self.now),
        );
        match (&p.release, &p.release_published) {
            (Some(id), Some(at)) => {
                let _ = write!(
                    self.html,
                    "<td>{}<small>{}</small></td>",
                    esc(id),
                    time_tag(at)
                );
            }
            _ => self.push("<td>none yet</td>"),
        }
    }

    fn grid(&mut self, doc: &StatusDoc) {
        let _ = write!(
            self.html,
            "<section aria-labelledby=\"grid-h\">\n<h2 id=\"grid-h\">Recent bulletins</h2>\n\
             <p class=\"note\">Bulletins published in the last {}, newest first: each tier's delay \
             against its goal, its content release, and its deadline.</p>\n<table id=\"bulletins\">\n<thead><tr>\
             <th scope=\"col\">Bulletin</th><th scope=\"col\">Published</th>",
            days(doc.series_window_seconds)
        );
        for t in &doc.tiers {
            let _ = write!(
                self.html,
                "<th scope=\"col\">{}<small>goal {}</small></th>",
                esc(&t.name),
                hours(t.goal_seconds)
            );
        }
        self.push("</tr></thead>\n<tbody>\n");
        if doc.bulletins.is_empty() {
            let _ = writeln!(
                self.html,
                "<tr><td colspan=\"{}\" class=\"none\">no bulletin in the window</td></tr>",
                doc.tiers.len() + 2
            );
        }
        for b in &doc.bulletins {
            let _ = write!(
                self.html,
                "<tr data-bulletin=\"{0}\"><th scope=\"row\">{0}{1}</th><td>{2}<small>{3}</small></td>",
                esc(&b.id),
                small(&b.title),
                time_tag(&b.published),
                age(b.age_seconds)
            );
            for t in &doc.tiers {
                match b.tiers.iter().find(|p| p.tier == t.name) {
                    Some(p) => {
                        let _ = write!(
                            self.html,
                            "<td class=\"cell {}\" data-tier=\"{}\">{}<small>{}</small></td>",
                            status_class(p.status),
                            esc(&t.name),
                            badge(p.status),
                            grid_text(p)
                        );
                    }
                    None => {
                        let _ = write!(
                            self.html,
                            "<td class=\"cell none\" data-tier=\"{}\"><span aria-hidden=\"true\">–</span>\
                             <span class=\"visually-hidden\">not evaluated</span></td>",
                            esc(&t.name)
                        );
                    }
                }
            }
            self.push("</tr>\n");
        }
        self.push("</tbody>\n</table>\n</section>\n");
    }

    fn sources(&mut self, sources: &[SourceDoc]) {
        self.push(
            "<section aria-labelledby=\"sources-h\">\n<h2 id=\"sources-h\">Sources</h2>\n\
             <table id=\"sources\">\n<thead><tr><th scope=\"col\">Source</th><th scope=\"col\">Role</th>\
             <th scope=\"col\">State</th><th scope=\"col\">Last success</th>\
             <th scope=\"col\">Records</th><th scope=\"col\">Last error</th></tr></thead>\n<tbody>\n",
        );
        for s in sources {
            let state = match (s.polled, s.up) {
                (false, _) => "<span class=\"badge never\">not polled yet</span>",
                (true, true) => "<span class=\"badge up\">up</span>",
                (true, false) => "<span class=\"badge down\">down</span>",
            };
            let last_success = match &s.last_success {
                Some(t) => time_tag(t),
                None => "never".into(),
            };
            let error = match (&s.last_error_time, &s.last_error_reason, &s.last_error) {
                (Some(t), Some(r), Some(e)) => format!(
                    "<code>{}</code> {}<div class=\"err\">{}</div>",
                    esc(r),
                    time_tag(t),
                    esc(e)
                ),
                _ => "none".into(),
            };
            let _ = writeln!(
                self.html,
                "<tr data-source=\"{0}\"><th scope=\"row\">{0}<small>{1}</small></th>\
                 <td>{2}<small>{3}</small></td><td>{4}</td><td>{5}</td><td class=\"num\">{6}</td><td>{7}</td></tr>",
                esc(&s.name),
                esc(&s.url),
                s.role,
                s.kind,
                state,
                last_success,
                s.records,
                error
            );
        }
        self.push("</tbody>\n</table>\n</section>\n");
    }

    fn legend(&mut self, doc: &StatusDoc) {
        let _ = write!(
            self.html,
            "<section aria-labelledby=\"legend-h\">\n<h2 id=\"legend-h\">Status words</h2>\n<dl class=\"legend\">\
             <dt>{}</dt><dd>content released within the goal</dd>\
             <dt>{}</dt><dd>no content yet, within the goal</dd>\
             <dt>{}</dt><dd>no content yet, and {:.0}% of the goal has passed</dd>\
             <dt>{}</dt><dd>past the goal, with content released late or still missing</dd>\
             </dl>\n<p class=\"note\">Goals are goals, not guarantees. Values come from periodically \
             polled sources; bulletins the release data cannot vouch for are not evaluated.</p>\n</section>\n",
            badge("met"),
            badge("pending"),
            badge("at risk"),
            doc.at_risk_ratio * 100.0,
            badge("breached"),
        );
    }
}

fn hours(seconds: i64) -> String {
    let h = seconds as f64 / 3600.0;
    if seconds % 3600 == 0 {
        format!("{h:.0} h")
    } else {
        format!("{h:.1} h")
    }
}

fn days(seconds: i64) -> String {
    if seconds % 86400 == 0 {
        format!("{} days", seconds / 86400)
    } else {
        hours(seconds)
    }
}

/// A `<time>` element showing an RFC 3339 instant as `2026-11-10 18:00 UTC`.
fn time_tag(rfc3339: &str) -> String {
    time_tag_as(rfc3339, "%Y-%m-%d %H:%M UTC")
}

fn time_tag_as(rfc3339: &str, format: &str) -> String {
    let shown = DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.format(format).to_string())
        .unwrap_or_else(|_| rfc3339.to_string());
    format!("<time datetime=\"{}\">{}</time>", esc(rfc3339), esc(&shown))
}

/// A bar from 0 to the goal, with a tick at the at-risk share. Decorative: the text next to it
/// says the same.
fn gauge(p: &PairDoc, at_risk_ratio: f64) -> String {
    let share = if p.goal_seconds > 0 {
        (p.delay_seconds as f64 / p.goal_seconds as f64).clamp(0.0, 1.0)
    } else {
        1.0
    };
    format!(
        "<div class=\"gauge\" aria-hidden=\"true\"><span class=\"fill {}\" style=\"width:{:.1}%\"></span>\
         <span class=\"risk\" style=\"left:{:.1}%\"></span></div>",
        status_class(p.status),
        share * 100.0,
        at_risk_ratio * 100.0
    )
}

fn progress_text(p: &PairDoc) -> String {
    let over = p.delay_seconds - p.goal_seconds;
    let verb = if p.pending { "waiting" } else { "took" };
    if over > 0 {
        format!(
            "{verb} {} of {} goal ({} over)",
            hours(p.delay_seconds),
            hours(p.goal_seconds),
            hours(over)
        )
    } else {
        format!(
            "{verb} {} of {} goal",
            hours(p.delay_seconds),
            hours(p.goal_seconds)
        )
    }
}

fn deadline_text(p: &PairDoc, now: i64) -> String {
    let deadline = DateTime::parse_from_rfc3339(&p.deadline)
        .map(|t| t.timestamp())
        .unwrap_or(now);
    let when = time_tag(&p.deadline);
    match (p.pending, deadline - now) {
        (true, left) if left > 0 => format!("deadline {when}, in {}", hours(left)),
        (true, left) => format!("deadline {when}, {} ago", hours(-left)),
        (false, _) => format!("deadline {when}"),
    }
}

fn grid_text(p: &PairDoc) -> String {
    let mut text = format!("{} / {}", hours(p.delay_seconds), hours(p.goal_seconds));
    if p.pending {
        text.push_str(", waiting");
    } else if let Some(release) = &p.release {
        let _ = write!(text, "<span class=\"sub\">{}</span>", esc(release));
    }
    let _ = write!(
        text,
        "<span class=\"sub\">due {}</span>",
        time_tag_as(&p.deadline, "%m-%d %H:%M UTC")
    );
    text
}

/// "23 h ago", "3 days ago".
fn age(seconds: i64) -> String {
    if seconds < 2 * 86400 {
        format!("{} ago", hours(seconds - seconds % 3600))
    } else {
        format!("{} days ago", seconds / 86400)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::store::{SourceState, StoreData, StoredBulletin};
    use std::path::Path;
    use std::sync::Arc;

    const CONFIG: &str = r#"
tiers:
  english:
    goal: 24h
    description: "<b>English</b>"
    bulletins: [msrc]
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
    tiers: [english]
"#;

    fn snapshot(data: StoreData) -> Snapshot {
        let config = Config::parse(Path::new("patchlag.yml"), CONFIG).expect("valid");
        Snapshot::build(Arc::new(config), data)
    }

    #[test]
    fn before_the_first_poll() {
        let html = render(&snapshot(StoreData::default()), 1_800_000_000, "/metrics");
        assert!(html.contains("not polled yet"), "{html}");
        assert!(html.contains("no bulletin evaluated yet"), "{html}");
        assert!(html.contains("no bulletin in the window"), "{html}");
        assert!(!html.contains("pa55word"), "{html}");
        assert!(html.contains("https://user:xxxxx@msrc.example.invalid/updates"));
    }

    #[test]
    fn what_sources_send_is_escaped() {
        let now = 1_800_000_000;
        let data = StoreData {
            bulletins: vec![StoredBulletin {
                source: "msrc".into(),
                id: "2027-Jan".into(),
                title: "<script>alert(1)</script>".into(),
                published: now - 3600,
                first_seen: now - 3600,
            }],
            releases: vec![],
            sources: vec![SourceState {
                name: "msrc".into(),
                up: Some(false),
                last_poll: Some(now),
                last_error: Some("<img src=x onerror=alert(1)>".into()),
                last_error_reason: Some(crate::sources::Reason::Parse),
                last_error_time: Some(now),
                ..Default::default()
            }],
        };
        let html = render(&snapshot(data), now, "/metrics");
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(html.contains("&lt;b&gt;English&lt;/b&gt;"), "{html}");
        assert!(
            html.contains("<span class=\"badge down\">down</span>"),
            "{html}"
        );
    }

    #[test]
    fn charts_come_first_one_per_tier() {
        let now = 1_800_000_000;
        let bulletin = |id: &str, age: i64| StoredBulletin {
            source: "msrc".into(),
            id: id.into(),
            title: String::new(),
            published: now - age,
            first_seen: now - age,
        };
        let data = StoreData {
            bulletins: vec![
                bulletin("2027-Jan", 30 * 3600),
                bulletin("2027-Feb", 5 * 3600),
            ],
            releases: vec![],
            sources: vec![SourceState {
                name: "vendor".into(),
                first_success: Some(now - 40 * 3600),
                last_success: Some(now),
                last_poll: Some(now),
                up: Some(true),
                ..Default::default()
            }],
        };
        let html = render(&snapshot(data), now, "/metrics");
        let charts = html.find("<h2 id=\"charts-h\">Delays in the last 90 days</h2>");
        assert!(charts.is_some(), "{html}");
        assert!(
            charts < html.find("<table id=\"tiers\">"),
            "charts above the tables"
        );
        assert_eq!(html.matches("<svg class=\"chart\"").count(), 1);
        assert!(html.contains(
            "<figure data-tier=\"english\"><figcaption>english <small>goal 24 h</small>"
        ));
        // Waiting past the goal, and waiting within it: both hollow, a triangle and a circle.
        assert!(html.contains("<path class=\"mk m-overdue\" d=\"M"));
        assert!(html.contains("<title>2027-Jan, published 2027-01-14 02:00 UTC: 30 h, breached, no content yet</title>"), "{html}");
        assert!(html.contains("<title>2027-Feb, published 2027-01-15 03:00 UTC: 5 h, pending, no content yet</title>"), "{html}");
        // The legend names only what is shown.
        assert!(html.contains("breached: still no content, past the goal</li>"));
        assert!(!html.contains("met: content within the goal</li>"));
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc(r#"<script>"x" & 'y'</script>"#),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn hours_are_whole_when_they_can_be() {
        assert_eq!(hours(86400), "24 h");
        assert_eq!(hours(5400), "1.5 h");
        assert_eq!(days(14 * 86400), "14 days");
    }

    #[test]
    fn progress_says_how_far_over() {
        let p = PairDoc {
            tier: "english".into(),
            status: "breached",
            delay_seconds: 30 * 3600,
            goal_seconds: 24 * 3600,
            deadline: "2026-11-11T18:00:00Z".into(),
            pending: true,
            release: None,
            release_published: None,
        };
        assert_eq!(progress_text(&p), "waiting 30 h of 24 h goal (6 h over)");
        let now = DateTime::parse_from_rfc3339("2026-11-12T00:00:00Z")
            .expect("time")
            .timestamp();
        assert!(deadline_text(&p, now).ends_with(", 6 h ago"));
    }
}
