//! Steps every kind that extracts records from entries shares.

use super::settings::Tiering;

/// Resolves the tiers of a release record from extracted values. Returns `None` when the
/// record belongs to no configured tier (filtered, not malformed).
pub fn resolve_tiers(
    tiering: &Tiering,
    values: &[String],
    tier_names: &[String],
) -> Option<Vec<String>> {
    let mut tiers: Vec<String> = match tiering {
        Tiering::Fixed(list) => list.clone(),
        Tiering::Extracted { .. } => values
            .iter()
            .filter_map(|v| tiering.map_value(v))
            .filter(|t| tier_names.iter().any(|n| n == t))
            .collect(),
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
    let mut out: Vec<String> = Vec::new();
    for v in values {
        let v = v.trim();
        if !v.is_empty() && !out.iter().any(|o| o == v) {
            out.push(v.to_string());
        }
    }
    out
}
