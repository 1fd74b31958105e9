//! The delay chart shared by the landing page and the HTML report: each evaluated bulletin of
//! one tier as a marker at (clock start, delay), against the tier's goal line, as inline SVG.
//!
//! A small writer of our own rather than a plotting crate: the chart is one scatter plot with a
//! goal line, and what it must be (readable without colour, accessible and self-contained in a
//! page that prints and opens from an e-mail attachment) needs control over the markup that
//! general plotting backends do not give: a `<title>` per marker (the name and delay on hover,
//! and for screen readers), classes styled by the page (the same status colours, print rules),
//! calendar-aligned time ticks, and markers beyond the scale kept on it, labelled with their
//! value. The output is about 2 KB plus about 130 bytes per marker (with its `<title>`).
//!
//! Status is carried by shape and fill, colour only adds to it: a circle is within the goal, a
//! triangle past it; filled means content was released, hollow means none yet.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};

use crate::html::{escape, hours, utc};

/// The chart's styles, for the page's `<style>` element.
pub const STYLE: &str = r#"
svg.chart{display:block;width:100%;height:auto;font-size:12px;overflow:visible}
.chart text{fill:#59636e}
.chart .plot{fill:#fff}
.chart .late-zone{fill:#fff0ee}
.chart .grid{stroke:#e3e8ee;stroke-width:1}
.chart .axis{fill:none;stroke:#8c959f;stroke-width:1}
.chart .axis-title{font-weight:600;fill:#1f2328}
.chart .goal{stroke:#a40e26;stroke-width:2;stroke-dasharray:8 4}
.chart .goal-label{fill:#a40e26;font-weight:700}
.chart .late-label{fill:#a40e26;font-style:italic}
.chart .label{fill:#1f2328;font-size:11px}
.chart .label-bg{fill:#fff;fill-opacity:.85}
.chart .empty{font-size:15px}
.mk{stroke-width:1.2;stroke:#fff}
.mk.m-met{fill:#1a7f37}
.mk.m-late{fill:#cf222e}
.mk.m-overdue,.mk.m-at-risk,.mk.m-pending{fill:#fff;stroke-width:2.2}
.mk.m-overdue{stroke:#cf222e}.mk.m-at-risk{stroke:#9a6700}.mk.m-pending{stroke:#0969da}
ul.chart-legend{list-style:none;margin:6px 0;padding:0;display:flex;flex-wrap:wrap;gap:4px 20px;font-size:13px}
ul.chart-legend li{display:flex;align-items:center;gap:6px}
ul.chart-legend svg{width:16px;height:16px;flex:none;overflow:visible}
svg.chart,ul.chart-legend{-webkit-print-color-adjust:exact;print-color-adjust:exact}
"#;

/// How a pair is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Released within the goal: filled circle.
    Met,
    /// Released after the goal: filled triangle.
    Late,
    /// No release, past the goal: hollow triangle.
    Overdue,
    /// No release, at risk: hollow diamond.
    AtRisk,
    /// No release, within the goal: hollow circle.
    Pending,
}

impl Mark {
    /// In legend order.
    pub const ALL: [Mark; 5] = [
        Mark::Met,
        Mark::Late,
        Mark::Overdue,
        Mark::AtRisk,
        Mark::Pending,
    ];

    /// From a status word (`met`, `breached`, `at risk`, `pending`) and whether the pair still
    /// waits for its content.
    pub fn of(status: &str, pending: bool) -> Mark {
        match status {
            "met" => Mark::Met,
            "breached" if pending => Mark::Overdue,
            "breached" => Mark::Late,
            "at risk" => Mark::AtRisk,
            _ => Mark::Pending,
        }
    }

    fn breached(self) -> bool {
        matches!(self, Mark::Late | Mark::Overdue)
    }

    fn class(self) -> &'static str {
        match self {
            Mark::Met => "m-met",
            Mark::Late => "m-late",
            Mark::Overdue => "m-overdue",
            Mark::AtRisk => "m-at-risk",
            Mark::Pending => "m-pending",
        }
    }

    /// The status as a person reads it.
    fn words(self) -> &'static str {
        match self {
            Mark::Met => "met",
            Mark::Late => "breached, content released late",
            Mark::Overdue => "breached, no content yet",
            Mark::AtRisk => "at risk, no content yet",
            Mark::Pending => "pending, no content yet",
        }
    }

    /// The legend's words.
    fn meaning(self) -> &'static str {
        match self {
            Mark::Met => "met: content within the goal",
            Mark::Late => "breached: content came after the goal",
            Mark::Overdue => "breached: still no content, past the goal",
            Mark::AtRisk => "at risk: no content yet, close to the goal",
            Mark::Pending => "pending: no content yet, within the goal",
        }
    }

    /// Drawing order: breaches last, on top of the rest.
    fn layer(self) -> u8 {
        match self {
            Mark::Met => 0,
            Mark::Pending => 1,
            Mark::AtRisk => 2,
            Mark::Late => 3,
            Mark::Overdue => 4,
        }
    }

    /// The marker centred on (x, y), with `inner` (a `<title>`, or nothing) inside.
    fn shape(self, x: f64, y: f64, inner: &str) -> String {
        let class = self.class();
        match self {
            Mark::Met | Mark::Pending => {
                format!(
                    "<circle class=\"mk {class}\" cx=\"{}\" cy=\"{}\" r=\"{}\">{inner}</circle>",
                    n(x),
                    n(y),
                    n(CIRCLE_RADIUS)
                )
            }
            Mark::Late | Mark::Overdue => {
                // An equilateral triangle pointing up, centred on its centroid.
                let half = TRIANGLE_SIDE / 2.0;
                let height = TRIANGLE_SIDE * 3f64.sqrt() / 2.0;
                format!(
                    "<path class=\"mk {class}\" d=\"M{} {}L{} {}H{}Z\">{inner}</path>",
                    n(x),
                    n(y - height * 2.0 / 3.0),
                    n(x + half),
                    n(y + height / 3.0),
                    n(x - half)
                )
            }
            Mark::AtRisk => {
                let r = DIAMOND_RADIUS;
                format!(
                    "<path class=\"mk {class}\" d=\"M{} {}L{} {}L{} {}L{} {}Z\">{inner}</path>",
                    n(x),
                    n(y - r),
                    n(x + r),
                    n(y),
                    n(x),
                    n(y + r),
                    n(x - r),
                    n(y)
                )
            }
        }
    }
}

const CIRCLE_RADIUS: f64 = 5.5;
const TRIANGLE_SIDE: f64 = 13.0;
const DIAMOND_RADIUS: f64 = 6.5;

/// One evaluated (tier, bulletin) pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Clock start, Unix seconds.
    pub at: i64,
    /// Seconds.
    pub delay: i64,
    pub mark: Mark,
    /// The bulletin, as people name it.
    pub name: String,
}

/// A linear map from a domain onto a range (a range may run backwards, as the y axis does).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scale {
    domain: (f64, f64),
    range: (f64, f64),
}

impl Scale {
    fn new(domain: (f64, f64), range: (f64, f64)) -> Scale {
        Scale { domain, range }
    }

    fn map(&self, v: f64) -> f64 {
        let (d0, d1) = self.domain;
        let (r0, r1) = self.range;
        if d1 == d0 {
            (r0 + r1) / 2.0
        } else {
            r0 + (v - d0) / (d1 - d0) * (r1 - r0)
        }
    }
}

/// The y axis, in whole hours: from 0 to `top` in steps of `step`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HourAxis {
    pub step: i64,
    pub top: i64,
}

/// Steps of the y axis, in hours: divisions of a day, then days and weeks.
const HOUR_STEPS: [i64; 16] = [
    1, 2, 3, 4, 6, 12, 24, 48, 72, 168, 336, 720, 1440, 2160, 4320, 8760,
];
const MAX_HOUR_INTERVALS: i64 = 6;
/// The goal line sits at 80 % of the height or lower, so the late zone above it shows.
const GOAL_HEADROOM: f64 = 1.25;
/// The largest delay stays clear of the top edge, which is for delays beyond the scale.
const DELAY_HEADROOM: f64 = 1.08;
/// Delays beyond this many goals are drawn on the top edge, labelled with their value, so that
/// one bulletin waiting for weeks does not flatten every other marker onto the axis.
const MAX_GOALS_SHOWN: i64 = 3;

impl HourAxis {
    /// An axis showing every delay up to `max_delay` (seconds), but at most
    /// `MAX_GOALS_SHOWN` goals, and the goal with room above it.
    fn new(goal: i64, max_delay: i64) -> HourAxis {
        let goal = goal.max(3600);
        let wanted = ((max_delay as f64 * DELAY_HEADROOM) as i64)
            .max((goal as f64 * GOAL_HEADROOM) as i64)
            .min(goal * MAX_GOALS_SHOWN)
            .max(3600);
        let wanted_hours = (wanted + 3599) / 3600;
        let step = HOUR_STEPS
            .iter()
            .copied()
            .find(|s| (wanted_hours + s - 1) / s <= MAX_HOUR_INTERVALS)
            .unwrap_or_else(|| (wanted_hours + MAX_HOUR_INTERVALS - 1) / MAX_HOUR_INTERVALS);
        HourAxis {
            step,
            top: (wanted_hours + step - 1) / step * step,
        }
    }

    /// Tick values in hours, from 0 to `top`.
    fn ticks(&self) -> Vec<i64> {
        (0..=self.top / self.step).map(|i| i * self.step).collect()
    }

    fn top_seconds(&self) -> i64 {
        self.top * 3600
    }
}

/// A tick on the time axis.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tick {
    pub at: i64,
    pub label: String,
}

#[derive(Debug, Clone, Copy)]
enum Step {
    /// Seconds, aligned to midnight UTC.
    Fixed(i64),
    /// Mondays.
    Weeks,
    Months(u32),
    Years(i32),
}

const DAY: i64 = 86400;
const TIME_STEPS: [Step; 18] = [
    Step::Fixed(3600),
    Step::Fixed(2 * 3600),
    Step::Fixed(3 * 3600),
    Step::Fixed(6 * 3600),
    Step::Fixed(12 * 3600),
    Step::Fixed(DAY),
    Step::Fixed(2 * DAY),
    Step::Weeks,
    Step::Months(1),
    Step::Months(2),
    Step::Months(3),
    Step::Months(6),
    Step::Years(1),
    Step::Years(2),
    Step::Years(5),
    Step::Years(10),
    Step::Years(50),
    Step::Years(100),
];

/// Calendar-aligned ticks (UTC) in `[from, to]`: whole hours, midnights, Mondays, first days of
/// months or years, whichever is the finest step giving at most `max` ticks.
fn time_ticks(from: i64, to: i64, max: usize) -> Vec<Tick> {
    let max = max.max(1);
    for step in TIME_STEPS {
        let instants = instants(step, from, to, max + 1);
        if instants.len() <= max {
            return label(step, &instants);
        }
    }
    Vec::new()
}

/// The step's instants in `[from, to]`, at most `limit` of them.
fn instants(step: Step, from: i64, to: i64, limit: usize) -> Vec<i64> {
    let mut out = Vec::new();
    let fixed = match step {
        Step::Fixed(size) => Some((size, 0)),
        // 1970-01-05 was the first Monday after the epoch.
        Step::Weeks => Some((7 * DAY, 4 * DAY)),
        Step::Months(_) | Step::Years(_) => None,
    };
    if let Some((size, offset)) = fixed {
        let mut t = from - (from - offset).rem_euclid(size);
        if t < from {
            t += size;
        }
        while t <= to && out.len() < limit {
            out.push(t);
            t += size;
        }
        return out;
    }
    match step {
        Step::Months(n) => {
            let Some(start) = DateTime::from_timestamp(from, 0) else {
                return out;
            };
            let mut day = NaiveDate::from_ymd_opt(start.year(), start.month(), 1);
            while let Some(d) = day {
                let t = midnight(d);
                if t > to || out.len() >= limit {
                    break;
                }
                if t >= from && d.month0() % n == 0 {
                    out.push(t);
                }
                day = d.checked_add_months(Months::new(1));
            }
        }
        Step::Years(n) => {
            let Some(start) = DateTime::from_timestamp(from, 0) else {
                return out;
            };
            let mut year = start.year();
            while let Some(d) = NaiveDate::from_ymd_opt(year, 1, 1) {
                let t = midnight(d);
                if t > to || out.len() >= limit {
                    break;
                }
                if t >= from && year.rem_euclid(n) == 0 {
                    out.push(t);
                }
                year += 1;
            }
        }
        Step::Fixed(_) | Step::Weeks => {}
    }
    out
}

fn midnight(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .map(|dt| dt.and_utc().timestamp())
        .unwrap_or(i64::MAX)
}

/// Labels that say only what changes from one tick to the next, with the year on the first
/// tick and where it changes.
fn label(step: Step, instants: &[i64]) -> Vec<Tick> {
    let mut previous_year = None;
    instants
        .iter()
        .enumerate()
        .filter_map(|(i, &at)| {
            let t: DateTime<Utc> = DateTime::from_timestamp(at, 0)?;
            let new_year = previous_year != Some(t.year());
            previous_year = Some(t.year());
            let format = match step {
                Step::Fixed(size) if size < DAY => match (at % DAY == 0, i == 0) {
                    (true, _) => "%-d %b",
                    (false, true) => "%-d %b %H:%M",
                    (false, false) => "%H:%M",
                },
                Step::Fixed(_) | Step::Weeks if new_year => "%-d %b %Y",
                Step::Fixed(_) | Step::Weeks => "%-d %b",
                Step::Months(_) if new_year => "%b %Y",
                Step::Months(_) => "%b",
                Step::Years(_) => "%Y",
            };
            Some(Tick {
                at,
                label: t.format(format).to_string(),
            })
        })
        .collect()
}

/// One tier's delays over a period.
#[derive(Debug, Clone)]
pub struct Chart<'a> {
    /// What the chart shows, for its `<title>` (the accessible name).
    pub title: &'a str,
    /// Size of the drawing, in CSS pixels at 100 %; the chart scales to its container's width.
    pub width: f64,
    pub height: f64,
    /// The period, Unix seconds (widened to every point).
    pub from: i64,
    pub to: i64,
    /// The tier's goal, seconds.
    pub goal: i64,
    pub points: &'a [Point],
}

/// The plot area within the drawing: room for the hour labels on the left, the goal's label on
/// the right (outside the plot, where no marker can hide it), the axis title on top, and the
/// date labels and time-axis title below.
const LEFT: f64 = 50.0;
const RIGHT: f64 = 74.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 40.0;
/// Keeps markers at either end of the period clear of the frame.
const INSET: f64 = 10.0;
/// Bulletins are named next to their markers only when so few are breached that the names fit.
const NAMED_BREACHES: usize = 8;
const MIN_TICK_SPACING: f64 = 70.0;
const LABEL_CHAR_WIDTH: f64 = 6.2;
/// Half the width of the largest marker, with a little room.
const MARKER_EXTENT: f64 = 7.5;

/// A text's box, for keeping labels apart.
#[derive(Debug, Clone, Copy)]
struct Box2 {
    x0: f64,
    y0: f64,
    x1: f64,
    y1: f64,
}

impl Box2 {
    fn overlaps(&self, o: &Box2) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }
}

impl Chart<'_> {
    /// The plot's scales: time across, hours up.
    fn scales(&self) -> (Scale, Scale, HourAxis) {
        let (mut from, mut to) = (self.from, self.to);
        for p in self.points {
            from = from.min(p.at);
            to = to.max(p.at);
        }
        if to <= from {
            from -= DAY / 2;
            to = from + DAY;
        }
        let max_delay = self.points.iter().map(|p| p.delay).max().unwrap_or(0);
        let axis = HourAxis::new(self.goal, max_delay);
        let x = Scale::new(
            (from as f64, to as f64),
            (LEFT + INSET, self.width - RIGHT - INSET),
        );
        let y = Scale::new(
            (0.0, axis.top_seconds() as f64),
            (self.height - BOTTOM, TOP),
        );
        (x, y, axis)
    }

    pub fn svg(&self) -> String {
        let (x, y, axis) = self.scales();
        let (w, h) = (self.width, self.height);
        let (right, bottom) = (w - RIGHT, h - BOTTOM);
        let mut s = String::with_capacity(2048 + 160 * self.points.len());
        let _ = writeln!(
            s,
            "<svg class=\"chart\" viewBox=\"0 0 {} {}\" role=\"img\"><title>{}</title>",
            n(w),
            n(h),
            escape(self.title)
        );
        let goal_y = y.map(self.goal as f64).max(TOP);
        let _ = writeln!(
            s,
            "<rect class=\"plot\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
            n(LEFT),
            n(TOP),
            n(right - LEFT),
            n(bottom - TOP)
        );
        let _ = writeln!(
            s,
            "<rect class=\"late-zone\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
            n(LEFT),
            n(TOP),
            n(right - LEFT),
            n(goal_y - TOP)
        );
        for hour in axis.ticks() {
            let ty = y.map((hour * 3600) as f64);
            let _ = writeln!(
                s,
                "<line class=\"grid\" x1=\"{x0}\" y1=\"{ty}\" x2=\"{x1}\" y2=\"{ty}\"/>\n\
                 <text x=\"{tx}\" y=\"{baseline}\" text-anchor=\"end\">{hour} h</text>",
                x0 = n(LEFT),
                x1 = n(right),
                ty = n(ty),
                tx = n(LEFT - 6.0),
                baseline = n(ty + 4.0)
            );
        }
        let (t0, t1) = (x.domain.0 as i64, x.domain.1 as i64);
        let max_ticks = ((right - LEFT) / MIN_TICK_SPACING).floor() as usize;
        for tick in time_ticks(t0, t1, max_ticks) {
            let tx = x.map(tick.at as f64);
            let _ = writeln!(
                s,
                "<line class=\"grid\" x1=\"{tx}\" y1=\"{y0}\" x2=\"{tx}\" y2=\"{y1}\"/>\n\
                 <text x=\"{tx}\" y=\"{baseline}\" text-anchor=\"middle\">{label}</text>",
                tx = n(tx),
                y0 = n(TOP),
                y1 = n(bottom + 4.0),
                baseline = n(bottom + 17.0),
                label = escape(&tick.label)
            );
        }
        let _ = writeln!(
            s,
            "<path class=\"axis\" d=\"M{} {}V{}H{}\"/>\n\
             <text class=\"axis-title\" x=\"{}\" y=\"14\">hours from bulletin to content</text>\n\
             <text class=\"axis-title\" x=\"{}\" y=\"{}\" text-anchor=\"end\">bulletin published (UTC)</text>",
            n(LEFT),
            n(TOP),
            n(bottom),
            n(right),
            n((LEFT - 40.0).max(4.0)),
            n(right),
            n(h - 4.0),
        );
        if goal_y - TOP >= 24.0 {
            let _ = writeln!(
                s,
                "<text class=\"late-label\" x=\"{}\" y=\"{}\">past goal</text>",
                n(right + 6.0),
                n(goal_y - 12.0)
            );
        }
        let goal_label = format!("goal {}", hours(self.goal));
        let _ = writeln!(
            s,
            "<line class=\"goal\" x1=\"{x0}\" y1=\"{gy}\" x2=\"{x1}\" y2=\"{gy}\"/>\n\
             <text class=\"goal-label\" x=\"{tx}\" y=\"{baseline}\">{label}</text>",
            x0 = n(LEFT),
            x1 = n(right),
            gy = n(goal_y),
            tx = n(right + 6.0),
            baseline = n(goal_y + 4.0),
            label = escape(&goal_label)
        );

        if self.points.is_empty() {
            let _ = writeln!(
                s,
                "<text class=\"empty\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">no bulletin evaluated in this period</text>",
                n((LEFT + right) / 2.0),
                n((TOP + bottom) / 2.0 + 5.0)
            );
        }
        let top = axis.top_seconds();
        let position = |p: &Point| (x.map(p.at as f64), y.map(p.delay.min(top) as f64));

        // Labels: the value of every marker beyond the scale, and, when there are few, the
        // name and delay of every breach. A label never covers a marker or another label:
        // where the name does not fit, the value alone is tried, else the label is left out
        // (the marker's title and the table beside the chart have it). Labels go beneath the
        // markers.
        let mut taken: Vec<Box2> = self
            .points
            .iter()
            .map(|p| {
                let (px, py) = position(p);
                Box2 {
                    x0: px - MARKER_EXTENT,
                    y0: py - MARKER_EXTENT,
                    x1: px + MARKER_EXTENT,
                    y1: py + MARKER_EXTENT,
                }
            })
            .collect();
        let named = self.points.iter().filter(|p| p.mark.breached()).count() <= NAMED_BREACHES;
        let mut by_time: Vec<&Point> = self.points.iter().collect();
        by_time.sort_by_key(|p| (p.at, p.delay));
        for p in by_time {
            let off_scale = p.delay > top;
            if !(off_scale || named && p.mark.breached()) {
                continue;
            }
            let value = if off_scale {
                format!("{} ↑", hours(p.delay))
            } else {
                hours(p.delay)
            };
            // A breach inside the scale is named or not labelled: its value is on the axis. One
            // beyond it falls back to its value alone when its name does not fit.
            let texts = match (named, off_scale) {
                (true, true) => vec![format!("{} · {value}", p.name), value],
                (true, false) => vec![format!("{} · {value}", p.name)],
                (false, _) => vec![value],
            };
            let (px, py) = position(p);
            let placed = texts.iter().find_map(|text| {
                let width = text_width(text);
                [(px + 9.0, false), (px - 9.0 - width, true)]
                    .into_iter()
                    .find_map(|(x0, left)| {
                        let b = Box2 {
                            x0,
                            y0: py - 8.0,
                            x1: x0 + width,
                            y1: py + 6.0,
                        };
                        (b.x0 >= LEFT && b.x1 <= right && !taken.iter().any(|t| t.overlaps(&b)))
                            .then_some((b, left, text))
                    })
            });
            if let Some((b, left, text)) = placed {
                taken.push(b);
                let (tx, anchor) = if left { (b.x1, "end") } else { (b.x0, "start") };
                let _ = writeln!(
                    s,
                    "<rect class=\"label-bg\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"2\"/>\n\
                     <text class=\"label\" x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
                    n(b.x0 - 2.0),
                    n(b.y0),
                    n(b.x1 - b.x0 + 4.0),
                    n(b.y1 - b.y0),
                    n(tx),
                    n(py + 4.0),
                    escape(text)
                );
            }
        }

        let mut order: Vec<&Point> = self.points.iter().collect();
        order.sort_by_key(|p| (p.mark.layer(), p.at));
        for p in &order {
            let (px, py) = position(p);
            let title = format!(
                "<title>{}, published {}: {}, {}</title>",
                escape(&p.name),
                utc(p.at),
                hours(p.delay),
                p.mark.words()
            );
            s.push_str(&p.mark.shape(px, py, &title));
            s.push('\n');
        }
        s.push_str("</svg>");
        s
    }
}

/// An estimate of a label's width at the chart's label size: enough to keep labels apart.
fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * LABEL_CHAR_WIDTH
}

/// How many of each mark, in legend order, leaving out those that do not occur.
pub fn counts(points: &[Point]) -> Vec<(Mark, usize)> {
    Mark::ALL
        .iter()
        .map(|&m| (m, points.iter().filter(|p| p.mark == m).count()))
        .filter(|(_, c)| *c > 0)
        .collect()
}

/// The legend, as an HTML list: each mark with its meaning (and its count, when given), then
/// the goal line.
pub fn legend(entries: &[(Mark, Option<usize>)]) -> String {
    let mut s = String::from("<ul class=\"chart-legend\">\n");
    for (mark, count) in entries {
        let _ = write!(
            s,
            "<li><svg viewBox=\"-8 -8 16 16\" aria-hidden=\"true\">{}</svg>{}",
            mark.shape(0.0, 0.0, ""),
            mark.meaning()
        );
        if let Some(count) = count {
            let _ = write!(s, " ({count})");
        }
        s.push_str("</li>\n");
    }
    s.push_str(
        "<li><svg viewBox=\"-8 -8 16 16\" aria-hidden=\"true\" class=\"chart\">\
         <line class=\"goal\" x1=\"-8\" y1=\"0\" x2=\"8\" y2=\"0\"/></svg>\
         dashed line: the tier's goal</li>\n</ul>\n",
    );
    s
}

/// A coordinate, to a tenth of a pixel, without a trailing `.0`.
fn n(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r.fract() == 0.0 {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600;

    fn at(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).expect("time").timestamp()
    }

    fn labels(ticks: &[Tick]) -> Vec<&str> {
        ticks.iter().map(|t| t.label.as_str()).collect()
    }

    #[test]
    fn scales_map_linearly_and_backwards() {
        let x = Scale::new((100.0, 200.0), (0.0, 50.0));
        assert_eq!(x.map(100.0), 0.0);
        assert_eq!(x.map(150.0), 25.0);
        assert_eq!(x.map(200.0), 50.0);
        let y = Scale::new((0.0, 10.0), (300.0, 100.0));
        assert_eq!(y.map(0.0), 300.0);
        assert_eq!(y.map(10.0), 100.0);
        assert_eq!(Scale::new((5.0, 5.0), (0.0, 10.0)).map(5.0), 5.0);
    }

    #[test]
    fn hour_axis_leaves_room_above_the_goal() {
        // Every delay under the goal: the axis still shows a quarter of a goal above it.
        assert_eq!(HourAxis::new(24 * H, 10 * H), HourAxis { step: 6, top: 30 });
        assert_eq!(
            HourAxis::new(24 * H, 10 * H).ticks(),
            [0, 6, 12, 18, 24, 30]
        );
        // The largest delay keeps some room above it: the top edge is for delays beyond.
        assert_eq!(
            HourAxis::new(48 * H, 95 * H),
            HourAxis { step: 24, top: 120 }
        );
        assert_eq!(HourAxis::new(24 * H, 30 * H), HourAxis { step: 6, top: 36 });
        assert_eq!(HourAxis::new(24 * H, 27 * H), HourAxis { step: 6, top: 30 });
        assert_eq!(HourAxis::new(4 * H, 0), HourAxis { step: 1, top: 5 });
    }

    #[test]
    fn hour_axis_stops_at_three_goals() {
        // 459 h waiting against a 48 h goal: the scale ends at 144 h.
        assert_eq!(
            HourAxis::new(48 * H, 459 * H),
            HourAxis { step: 24, top: 144 }
        );
        assert_eq!(
            HourAxis::new(7 * 24 * H, 1000 * H),
            HourAxis {
                step: 168,
                top: 504
            }
        );
    }

    #[test]
    fn ticks_are_midnights_for_two_weeks() {
        let ticks = time_ticks(at("2026-04-30T16:00:00Z"), at("2026-05-14T16:00:00Z"), 7);
        assert_eq!(
            labels(&ticks),
            [
                "1 May 2026",
                "3 May",
                "5 May",
                "7 May",
                "9 May",
                "11 May",
                "13 May"
            ]
        );
        assert_eq!(ticks[0].at, at("2026-05-01T00:00:00Z"));
        // With room for fewer ticks: Mondays.
        let ticks = time_ticks(at("2026-04-30T16:00:00Z"), at("2026-05-14T16:00:00Z"), 3);
        assert_eq!(labels(&ticks), ["4 May 2026", "11 May"]);
    }

    #[test]
    fn ticks_are_months_for_half_a_year_and_years_for_decades() {
        let ticks = time_ticks(at("2023-11-14T18:00:00Z"), at("2024-04-10T20:00:00Z"), 11);
        assert_eq!(
            labels(&ticks),
            ["Dec 2023", "Jan 2024", "Feb", "Mar", "Apr"]
        );
        let ticks = time_ticks(at("2023-06-01T00:00:00Z"), at("2025-06-01T00:00:00Z"), 6);
        assert_eq!(labels(&ticks), ["Jul 2023", "Jan 2024", "Jul", "Jan 2025"]);
        let ticks = time_ticks(at("2016-01-01T00:00:00Z"), at("2026-05-01T00:00:00Z"), 6);
        assert_eq!(
            labels(&ticks),
            ["2016", "2018", "2020", "2022", "2024", "2026"]
        );
    }

    #[test]
    fn ticks_within_a_day_are_hours() {
        let ticks = time_ticks(at("2026-05-13T17:30:00Z"), at("2026-05-14T05:00:00Z"), 6);
        assert_eq!(
            labels(&ticks),
            ["13 May 18:00", "20:00", "22:00", "14 May", "02:00", "04:00"]
        );
        let ticks = time_ticks(at("2026-05-13T17:30:00Z"), at("2026-05-14T06:00:00Z"), 3);
        assert_eq!(labels(&ticks), ["13 May 18:00", "14 May", "06:00"]);
    }

    #[test]
    fn marks_follow_the_status_words() {
        assert_eq!(Mark::of("met", false), Mark::Met);
        assert_eq!(Mark::of("breached", false), Mark::Late);
        assert_eq!(Mark::of("breached", true), Mark::Overdue);
        assert_eq!(Mark::of("at risk", true), Mark::AtRisk);
        assert_eq!(Mark::of("pending", true), Mark::Pending);
    }

    #[test]
    fn marker_shapes_differ_by_outcome_and_fill_by_release() {
        // Within the goal: circles; past it: triangles; at risk: a diamond.
        assert_eq!(
            Mark::Met.shape(10.0, 20.0, ""),
            "<circle class=\"mk m-met\" cx=\"10\" cy=\"20\" r=\"5.5\"></circle>"
        );
        assert!(Mark::Pending.shape(10.0, 20.0, "").starts_with("<circle "));
        // The triangle's centroid is the point: apex 2/3 of the height above, base 1/3 below.
        assert_eq!(
            Mark::Late.shape(10.0, 20.0, ""),
            "<path class=\"mk m-late\" d=\"M10 12.5L16.5 23.8H3.5Z\"></path>"
        );
        assert!(Mark::Overdue
            .shape(0.0, 0.0, "")
            .starts_with("<path class=\"mk m-overdue\""));
        assert_eq!(
            Mark::AtRisk.shape(0.0, 0.0, "<title>x</title>"),
            "<path class=\"mk m-at-risk\" d=\"M0 -6.5L6.5 0L0 6.5L-6.5 0Z\"><title>x</title></path>"
        );
        // Hollow (no content yet) and filled (released) come from the styles.
        for hollow in ["m-overdue", "m-at-risk", "m-pending"] {
            assert!(STYLE.contains(&format!(".mk.{hollow}")), "{hollow}");
        }
        assert!(STYLE.contains(".mk.m-overdue,.mk.m-at-risk,.mk.m-pending{fill:#fff;"));
    }

    fn point(at_: &str, delay: i64, mark: Mark, name: &str) -> Point {
        Point {
            at: at(at_),
            delay,
            mark,
            name: name.into(),
        }
    }

    /// (class, x, y) of every marker's centre, in drawing order.
    fn markers(svg: &str) -> Vec<(String, f64, f64)> {
        let number = |text: &str| -> f64 {
            let end = text
                .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
                .unwrap_or(text.len());
            text[..end].parse().expect("number")
        };
        let after = |text: &'_ str, key: &str| -> f64 {
            number(&text[text.find(key).expect(key) + key.len()..])
        };
        svg.split("class=\"mk ")
            .skip(1)
            .map(|rest| {
                let class = rest.split('"').next().expect("class").to_string();
                if let Some(d) = rest.strip_prefix(&format!("{class}\" d=\"M")) {
                    // A path starts at its top vertex, above the centre by 2/3 of a
                    // triangle's height or by a diamond's radius.
                    let x = number(d);
                    let y = number(&d[d.find(' ').expect("y") + 1..]);
                    let drop = if class == "m-at-risk" {
                        DIAMOND_RADIUS
                    } else {
                        TRIANGLE_SIDE * 3f64.sqrt() / 3.0
                    };
                    (class, x, y + drop)
                } else {
                    (class, after(rest, "cx=\""), after(rest, "cy=\""))
                }
            })
            .collect()
    }

    fn chart(points: &[Point]) -> String {
        Chart {
            title: "english",
            width: 960.0,
            height: 300.0,
            from: at("2024-01-01T00:00:00Z"),
            to: at("2024-01-31T00:00:00Z"),
            goal: 24 * H,
            points,
        }
        .svg()
    }

    #[test]
    fn markers_sit_on_the_scales_and_the_goal_line_on_its_hour() {
        let points = [
            point("2024-01-01T00:00:00Z", 0, Mark::Met, "first"),
            point("2024-01-31T00:00:00Z", 27 * H, Mark::Late, "last"),
            point("2024-01-16T00:00:00Z", 12 * H, Mark::Pending, "middle"),
        ];
        let svg = chart(&points);
        // Plot: x from 50 + 10 to 960 - 74 - 10; y from 300 - 40 (0 h) up to 28 (30 h).
        let m = markers(&svg);
        assert_eq!(m.len(), 3);
        let find = |class: &str| m.iter().find(|(c, ..)| c == class).expect(class).clone();
        let (_, x, y) = find("m-met");
        assert_eq!((x, y), (60.0, 260.0));
        let (_, x, y) = find("m-late");
        assert!((x - 876.0).abs() < 0.2 && (y - 51.2).abs() < 0.2, "{x} {y}");
        let (_, x, y) = find("m-pending");
        assert!(
            (x - 468.0).abs() < 0.2 && (y - 167.2).abs() < 0.2,
            "{x} {y}"
        );
        // The goal, 24 h of 30 h: 260 - 0.8 * 232.
        assert!(svg.contains("<line class=\"goal\" x1=\"50\" y1=\"74.4\" x2=\"886\" y2=\"74.4\"/>"));
        assert!(svg.contains(">goal 24 h</text>"));
        // Breaches are drawn last, on top.
        assert_eq!(m.last().expect("marker").0, "m-late");
        // Hours on the axis.
        for tick in ["0 h", "6 h", "12 h", "18 h", "24 h", "30 h"] {
            assert!(svg.contains(&format!(">{tick}</text>")), "{tick}");
        }
        // Each marker names itself.
        assert!(svg.contains(
            "<title>last, published 2024-01-31 00:00 UTC: 27 h, breached, content released late</title>"
        ));
        // Few breaches: named beside the marker, inside the plot.
        assert!(svg.contains(">last · 27 h</text>"), "{svg}");
    }

    #[test]
    fn delays_beyond_the_scale_stay_on_its_edge_with_their_value() {
        let points = [
            point("2024-01-10T00:00:00Z", 20 * H, Mark::Met, "a"),
            point("2024-01-12T00:00:00Z", 459 * H, Mark::Overdue, "b"),
        ];
        let svg = chart(&points);
        let (_, _, y) = markers(&svg)
            .into_iter()
            .find(|(c, ..)| c == "m-overdue")
            .expect("overdue");
        assert!((y - TOP).abs() < 0.2, "{y}");
        assert!(svg.contains(">72 h</text>"), "three goals at most");
        assert!(!svg.contains(">78 h</text>"));
        assert!(svg.contains(">b · 459 h ↑</text>"), "{svg}");
    }

    #[test]
    fn many_breaches_are_not_named_and_labels_never_overlap() {
        let points: Vec<Point> = (0..40)
            .map(|i| Point {
                at: at("2024-01-01T00:00:00Z") + i * 6 * H,
                delay: if i % 2 == 0 { 30 * H } else { 100 * H },
                mark: Mark::Late,
                name: format!("B{i}"),
            })
            .collect();
        let svg = chart(&points);
        assert!(!svg.contains(" · "), "no names with 40 breaches");
        let labels = svg.matches("class=\"label\"").count();
        assert!(labels > 0 && labels < 20, "{labels} value labels");
        assert_eq!(markers(&svg).len(), 40);
    }

    /// (x0, y0, x1, y1) of every label's background.
    fn label_boxes(svg: &str) -> Vec<(f64, f64, f64, f64)> {
        svg.split("<rect class=\"label-bg\" ")
            .skip(1)
            .map(|rest| {
                let attr = |key: &str| -> f64 {
                    let start = rest.find(&format!("{key}=\"")).expect(key) + key.len() + 2;
                    rest[start..]
                        .split('"')
                        .next()
                        .expect(key)
                        .parse()
                        .expect(key)
                };
                let (x, y) = (attr("x"), attr("y"));
                (x, y, x + attr("width"), y + attr("height"))
            })
            .collect()
    }

    #[test]
    fn labels_never_cover_a_marker_and_off_scale_values_are_kept_short_when_crowded() {
        // Bulletins four days apart still waiting past the goal, far beyond the scale, among met ones
        // every day: the names do not fit side by side, the values do.
        let mut points: Vec<Point> = (0..30)
            .map(|d| Point {
                at: at("2024-01-01T00:00:00Z") + d * 24 * H,
                delay: 20 * H,
                mark: Mark::Met,
                name: format!("MET-{d}"),
            })
            .collect();
        for w in 0..4 {
            points.push(Point {
                at: at("2024-01-03T00:00:00Z") + w * 4 * 24 * H,
                delay: (800 - w * 170) * H,
                mark: Mark::Overdue,
                name: format!("ADV-2024-01-{:02}-1", 3 + w * 4),
            });
        }
        let svg = chart(&points);
        let boxes = label_boxes(&svg);
        assert!(!boxes.is_empty());
        for (class, x, y) in markers(&svg) {
            for &(x0, y0, x1, y1) in &boxes {
                let clear = x + 5.5 <= x0 || x - 5.5 >= x1 || y + 5.5 <= y0 || y - 5.5 >= y1;
                assert!(clear, "a label covers the {class} marker at ({x}, {y})");
            }
        }
        // Every marker beyond the scale says its value, with or without its name.
        for value in ["800 h ↑", "630 h ↑", "460 h ↑", "290 h ↑"] {
            assert!(svg.contains(&format!("{value}</text>")), "{value}: {svg}");
        }
        // Labels are beneath the markers.
        assert!(svg.rfind("class=\"label\"") < svg.find("class=\"mk "));
    }

    #[test]
    fn an_empty_chart_says_so() {
        let svg = chart(&[]);
        assert!(svg.contains("no bulletin evaluated in this period"));
        assert!(svg.contains(">goal 24 h</text>"));
        assert!(svg.starts_with(
            "<svg class=\"chart\" viewBox=\"0 0 960 300\" role=\"img\"><title>english</title>"
        ));
    }

    #[test]
    fn text_from_sources_is_escaped() {
        let points = [point("2024-01-10T00:00:00Z", 30 * H, Mark::Late, "<b>&")];
        let svg = chart(&points);
        assert!(svg.contains("&lt;b&gt;&amp;"));
        assert!(!svg.contains("<b>"));
    }

    #[test]
    fn legend_lists_marks_with_counts() {
        let points = [
            point("2024-01-10T00:00:00Z", 30 * H, Mark::Late, "a"),
            point("2024-01-11T00:00:00Z", 3 * H, Mark::Met, "b"),
            point("2024-01-12T00:00:00Z", 4 * H, Mark::Met, "c"),
        ];
        let counts = counts(&points);
        assert_eq!(counts, [(Mark::Met, 2), (Mark::Late, 1)]);
        let entries: Vec<_> = counts.iter().map(|(m, c)| (*m, Some(*c))).collect();
        let html = legend(&entries);
        assert!(html.contains("met: content within the goal (2)</li>"));
        assert!(html.contains("breached: content came after the goal (1)</li>"));
        assert!(html.contains("dashed line: the tier's goal"));
    }

    #[test]
    fn coordinates_are_short() {
        assert_eq!(n(10.0), "10");
        assert_eq!(n(10.04), "10");
        assert_eq!(n(10.05), "10.1");
        assert_eq!(n(-6.5), "-6.5");
    }
}
