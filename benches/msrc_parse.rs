//! Parsing a 5 MB MSRC `/updates` answer and CVRF month documents of 7 and 12 MB (their
//! out-of-band updates), and how much heap that takes beyond the answer itself (printed before
//! the timings).

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
#[path = "support/history.rs"]
mod history;

use std::hint::black_box;

use chrono::NaiveTime;
use criterion::{criterion_group, Criterion, Throughput};
use patchlag_exporter::sources::msrc::{
    out_of_band_days, Msrc, MsrcConfig, DEFAULT_MSRC_EXCLUDE_TITLE, DEFAULT_MSRC_INCLUDE_TITLE,
    DEFAULT_MSRC_TIMEZONE,
};
use patchlag_exporter::sources::{Fetched, ParseContext, SourceKind};
use patchlag_exporter::timeparse::zone;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

const ANSWER_BYTES: usize = 5 * 1024 * 1024;

fn msrc_parse(c: &mut Criterion) {
    let now = chrono::Utc::now().timestamp();
    let kind = Msrc::new(MsrcConfig {
        timezone: zone(DEFAULT_MSRC_TIMEZONE).expect("zone"),
        release_time: NaiveTime::from_hms_opt(10, 0, 0).expect("10:00"),
        include_title: regex::Regex::new(DEFAULT_MSRC_INCLUDE_TITLE).expect("regex"),
        exclude_title: regex::Regex::new(DEFAULT_MSRC_EXCLUDE_TITLE).expect("regex"),
        out_of_band: None,
    });
    let fetched = Fetched {
        body: history::large_msrc_index(ANSWER_BYTES, now).into_bytes(),
        ..Fetched::default()
    };
    let ctx = ParseContext {
        now,
        state: None,
        tier_names: &[],
    };
    let (parsed, peak, kept) =
        counting_alloc::measure(|| kind.parse(&fetched, &ctx).expect("parses"));
    eprintln!(
        "msrc: answer {} bytes, {} records, {} skipped; heap during the parse: peak {} bytes \
         ({:.1}% of the answer), of which {} bytes are the records kept, {} bytes transient",
        fetched.body.len(),
        parsed.records.len(),
        parsed.skipped.len(),
        peak,
        100.0 * peak as f64 / fetched.body.len() as f64,
        kept,
        peak - kept,
    );
    drop(parsed);

    let mut group = c.benchmark_group("msrc");
    group.throughput(Throughput::Bytes(fetched.body.len() as u64));
    group.bench_function("parse 5 MB", |b| {
        b.iter(|| kind.parse(black_box(&fetched), &ctx).expect("parses"))
    });
    group.finish();
}

fn msrc_documents(c: &mut Criterion) {
    let release_day = chrono::NaiveDate::from_ymd_opt(2025, 7, 8).expect("date");
    let mut group = c.benchmark_group("msrc");
    for mb in [7, 12] {
        let body = history::large_msrc_document(mb * 1024 * 1024);
        let (found, peak, kept) = counting_alloc::measure(|| {
            out_of_band_days(&body, "2025-Jul", release_day).expect("reads")
        });
        eprintln!(
            "msrc document: {} bytes, {} out-of-band days; heap during the parse: peak {} bytes \
             ({:.2}% of the document), of which {} bytes are kept",
            body.len(),
            found.days.len(),
            peak,
            100.0 * peak as f64 / body.len() as f64,
            kept,
        );
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("document-{mb}MB"), |b| {
            b.iter(|| out_of_band_days(black_box(&body), "2025-Jul", release_day).expect("reads"))
        });
    }
    group.finish();
}

criterion_group!(benches, msrc_parse, msrc_documents);

fn main() {
    // `cargo test --all-targets` runs benchmark binaries without `--bench`: building them is
    // the check there, measuring is for `cargo bench`.
    if std::env::args().any(|arg| arg == "--bench") {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
}
