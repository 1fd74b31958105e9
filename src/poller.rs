//! The poll loop: one task per source. Fetch with limits, parse, store, say the poll is done;
//! then sleep the source's interval with jitter, so sources sharing an interval do not hit
//! their servers in lockstep, or longer when the server asked for it (`Retry-After`). A failed
//! poll stores only the failure: the last good data stays. A poller knows nothing above it:
//! whoever started it learns of each finished poll through its `polled` channel.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use crate::clock::Clock;
use crate::config::SourceConfig;
use crate::sources::fetch::Fetcher;
use crate::sources::{self, ParseContext, PollError, Reason};
use crate::store::Store;
use crate::store::Success;

/// Each sleep is the interval ± this share of it.
const JITTER: f64 = 0.1;
/// At most this many malformed-record lines are logged per poll; the rest are summed up.
const MAX_SKIPPED_LOGGED: usize = 5;
/// Messages built from what a source sent (a malformed value, a header row) are cut to this
/// many characters in logs, the store and the status page: a hostile answer must not turn into
/// a megabyte log line.
const MAX_MESSAGE_CHARS: usize = 500;

pub fn jittered(interval: Duration) -> Duration {
    let factor = 1.0 + JITTER * (fastrand::f64() * 2.0 - 1.0);
    interval.mul_f64(factor)
}

/// `text` cut to `MAX_MESSAGE_CHARS` characters, saying so.
fn bounded(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        None => text.into(),
        Some((end, _)) => format!("{}… ({} bytes in all)", &text[..end], text.len()).into(),
    }
}

/// Everything one source's poller works with.
pub struct Poller {
    pub store: Arc<Store>,
    pub clock: Clock,
    pub source: SourceConfig,
    /// The configured tiers: release sources keep the records of these only.
    pub tier_names: Arc<Vec<String>>,
    /// Receives the source's name after each poll, stored or not.
    pub polled: UnboundedSender<String>,
}

pub async fn run(poller: Poller) {
    let Poller {
        store,
        clock,
        source,
        tier_names,
        polled,
    } = poller;
    let kind: Arc<dyn sources::SourceKind> = source.parser.clone();
    if let Some(notice) = kind.notice() {
        tracing::info!(source = %source.name, "{notice}");
    }
    let fetcher = Fetcher::new(source.endpoint(), kind.needs());
    loop {
        let started = Instant::now();
        let now = clock.now();
        let result = match &fetcher {
            Ok(fetcher) => {
                poll(
                    &store,
                    fetcher,
                    kind.clone(),
                    tier_names.clone(),
                    &source.name,
                    now,
                )
                .await
            }
            Err(e) => Err(PollError::new(Reason::Other, e.clone())),
        };
        let duration = started.elapsed().as_secs_f64();
        let retry_after = result.as_ref().err().and_then(|e| e.retry_after);
        let result = result.map_err(|mut e| {
            e.message = bounded(&e.message).into_owned();
            e
        });
        let writer = store.clone();
        let name = source.name.clone();
        let role = source.role;
        let stored = tokio::task::spawn_blocking(move || match result {
            Ok(parsed) => {
                let records = parsed.records.len();
                writer
                    .record_success(&Success {
                        source: &name,
                        role,
                        at: now,
                        duration,
                        records: &parsed.records,
                        derived: &parsed.derived,
                        state: parsed.state.as_deref(),
                    })
                    .map(|_| Ok(records))
            }
            Err(e) => writer
                .record_failure(&name, now, duration, e.reason, &e.message)
                .map(|_| Err(e)),
        })
        .await;
        match stored {
            Ok(Ok(Ok(records))) => {
                tracing::debug!(source = %source.name, records, duration_seconds = duration, "poll succeeded")
            }
            Ok(Ok(Err(e))) => {
                tracing::warn!(source = %source.name, reason = %e.reason, error = %e.message, "poll failed")
            }
            Ok(Err(e)) => {
                tracing::error!(source = %source.name, error = %e, "cannot store the poll result")
            }
            Err(e) => tracing::error!(source = %source.name, error = %e, "store task failed"),
        }
        // Nobody listening means the app is shutting down.
        let _ = polled.send(source.name.clone());
        // Never sooner than the server asked for.
        let pause = jittered(source.interval).max(retry_after.unwrap_or_default());
        tokio::time::sleep(pause).await;
    }
}

async fn poll(
    store: &Arc<Store>,
    fetcher: &Fetcher,
    kind: Arc<dyn sources::SourceKind>,
    tier_names: Arc<Vec<String>>,
    name: &str,
    now: i64,
) -> Result<sources::Parsed, PollError> {
    let store = store.clone();
    let owned = name.to_string();
    let state = tokio::task::spawn_blocking(move || store.source_state(&owned))
        .await
        .map_err(|e| PollError::new(Reason::Other, e.to_string()))?
        .map_err(|e| PollError::new(Reason::Other, e.to_string()))?;
    let headers = kind.request_headers(state.as_deref());
    let fetched = fetcher.fetch(&headers).await?;
    // Parsing a multi-megabyte answer is CPU work: keep it off the threads serving HTTP.
    let mut parsed = tokio::task::spawn_blocking(move || {
        let ctx = ParseContext {
            now,
            state: state.as_deref(),
            tier_names: &tier_names,
        };
        kind.parse(&fetched, &ctx)
    })
    .await
    .map_err(|e| PollError::new(Reason::Other, format!("parser failed: {e}")))??;
    // Further documents, one at a time: only one answer is held in memory at once.
    if let Some(mut follow_up) = parsed.follow_up.take() {
        while let Some(request) = follow_up.next_request() {
            let fetched = fetcher
                .fetch_url(&request.url, &request.headers)
                .await
                .map_err(|e| e.about(&request.label))?;
            follow_up =
                tokio::task::spawn_blocking(move || follow_up.read(fetched).map(|()| follow_up))
                    .await
                    .map_err(|e| PollError::new(Reason::Other, format!("parser failed: {e}")))??;
        }
        follow_up.finish(&mut parsed);
    }
    for message in parsed.skipped.iter().take(MAX_SKIPPED_LOGGED) {
        tracing::warn!(source = %name, record = %bounded(message), "skipped a malformed record");
    }
    if parsed.skipped.len() > MAX_SKIPPED_LOGGED {
        tracing::warn!(source = %name, count = parsed.skipped.len() - MAX_SKIPPED_LOGGED, "skipped more malformed records");
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent_and_varies() {
        let interval = Duration::from_secs(900);
        let samples: Vec<Duration> = (0..1000).map(|_| jittered(interval)).collect();
        assert!(samples
            .iter()
            .all(|d| *d >= Duration::from_secs(810) && *d <= Duration::from_secs(990)));
        let distinct: std::collections::HashSet<_> = samples.iter().collect();
        assert!(
            distinct.len() > 900,
            "sources sharing an interval must not poll in lockstep"
        );
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        assert_eq!(bounded("short"), "short");
        let exact = "é".repeat(MAX_MESSAGE_CHARS);
        assert_eq!(bounded(&exact), exact);
        let long = "é".repeat(MAX_MESSAGE_CHARS + 1);
        let cut = bounded(&long);
        assert!(cut.starts_with(&"é".repeat(MAX_MESSAGE_CHARS)));
        assert!(
            cut.ends_with(&format!("… ({} bytes in all)", long.len())),
            "{cut}"
        );
        assert!(cut.chars().count() < MAX_MESSAGE_CHARS + 30);
    }
}
