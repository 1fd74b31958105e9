//! Steps every kind that extracts records from entries shares.

use super::settings::Tiering;
use super::Record;
use crate::timeparse::Published;

/// Resolves the tiers of a release record from extracted values. Returns `None` when the
/// record belongs to no configured tier (filtered, not malformed).
pub fn resolve_tiers(
    tiering: &Tiering,
    values: &[String],
    tier_names: &[String],
) -> Option<Vec<String>> {
    let mut tiers: Vec<String> = match tiering {
        Tiering::Fixed(list) => list.clone(),
        // Sized for the values (nearly always one): a first poll holds one such list per
        // record, thousands of them.
        Tiering::Extracted { .. } => {
            let mut tiers = Vec::with_capacity(values.len());
            tiers.extend(
                values
                    .iter()
                    .filter_map(|v| tiering.map_value(v))
                    .filter(|t| tier_names.iter().any(|n| n == t)),
            );
            tiers
        }
        Tiering::FromTitle(_) => Vec::new(),
    };
    tiers.sort();
    tiers.dedup();
    if tiers.is_empty() {
        None
    } else {
        Some(tiers)
    }
}

/// Covers as listed by a source: trimmed, empty entries dropped, duplicates removed.
pub fn clean_covers<I: IntoIterator<Item = String>>(values: I) -> Vec<String> {
    let values = values.into_iter();
    // Sized for the values, as `resolve_tiers`.
    let mut out: Vec<String> = Vec::with_capacity(values.size_hint().0);
    for v in values {
        let v = v.trim();
        if !v.is_empty() && !out.iter().any(|o| o == v) {
            out.push(v.to_string());
        }
    }
    out
}

/// The last steps of an entry's record, once its id and time are read: its tiers from the
/// values `tier_values` gives (none for a bulletin source; `None` when the entry belongs to no
/// configured tier, which is filtered, not malformed), its title trimmed, its covers cleaned.
/// The closures run only when their values are needed.
pub fn finish(
    tiering: Option<&Tiering>,
    tier_names: &[String],
    id: String,
    published: Published,
    title: &str,
    tier_values: impl FnOnce() -> Vec<String>,
    covers: impl FnOnce() -> Vec<String>,
) -> Option<Record> {
    let tiers = match tiering {
        None => Vec::new(),
        Some(tiering) => resolve_tiers(tiering, &tier_values(), tier_names)?,
    };
    Some(Record {
        id,
        title: title.trim().to_string(),
        published,
        tiers,
        covers: clean_covers(covers()),
    })
}
