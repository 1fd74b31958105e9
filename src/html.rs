//! Text helpers shared by the self-contained HTML pages (the landing page and the HTML report)
//! and the charts they embed.

use chrono::DateTime;

/// Escapes text for element content and attribute values (HTML and inline SVG).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A `<small>` line under a cell's main text; nothing for no text.
pub fn small(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!("<small>{}</small>", escape(text))
    }
}

/// The CSS class of a status word (`at risk` is `at-risk`).
pub fn status_class(status: &str) -> String {
    status.replace(' ', "-")
}

/// A status word as a badge, styled by its class.
pub fn badge(status: &str) -> String {
    format!(
        "<span class=\"badge {}\">{}</span>",
        status_class(status),
        escape(status)
    )
}

/// A duration in hours for people, exact to the second, so that a delay one minute past a
/// goal never reads as the goal itself: `30 h`, `30 h 15 min`, `24 h 0 min 30 s`.
pub fn hours(seconds: i64) -> String {
    let s = seconds.max(0);
    let (h, m, sec) = (s / 3600, s % 3600 / 60, s % 60);
    match (m, sec) {
        (0, 0) => format!("{h} h"),
        (m, 0) => format!("{h} h {m} min"),
        (m, sec) => format!("{h} h {m} min {sec} s"),
    }
}

/// `2026-11-10 18:00 UTC`; seconds are shown only when there are any.
pub fn utc(t: i64) -> String {
    match DateTime::from_timestamp(t, 0) {
        Some(d) if t % 60 == 0 => d.format("%Y-%m-%d %H:%M UTC").to_string(),
        Some(d) => d.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        None => t.to_string(),
    }
}

/// A `<time>` element showing `t` as [`utc`] does.
pub fn time_tag(t: i64) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        crate::timeparse::rfc3339(t),
        utc(t)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<script>"x" & 'y'</script>"#),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn hours_never_hide_a_breach() {
        assert_eq!(hours(86400), "24 h");
        assert_eq!(hours(30 * 3600 + 15 * 60), "30 h 15 min");
        assert_eq!(hours(86400 + 30), "24 h 0 min 30 s");
        assert_eq!(hours(45 * 60), "0 h 45 min");
        assert_eq!(hours(-5), "0 h");
    }

    #[test]
    fn times_are_utc() {
        assert_eq!(utc(1_795_132_800), "2026-11-20 00:00 UTC");
        assert_eq!(utc(1_795_132_807), "2026-11-20 00:00:07 UTC");
        assert_eq!(
            time_tag(1_795_132_800),
            "<time datetime=\"2026-11-20T00:00:00Z\">2026-11-20 00:00 UTC</time>"
        );
    }
}
