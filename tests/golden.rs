//! Golden `/metrics` for the offline demo at a fixed clock: the whole exposition, line by line,
//! minus what legitimately varies between runs (process metrics, poll durations, the reload time, the
//! build's revision). Regenerate with `UPDATE_GOLDEN=1 cargo test --test golden`. The golden file is
//! also linted by `promtool check metrics`.

mod common;

use common::*;

const FIXED_NOW: &str = "2026-11-24T12:00:00Z";

fn normalize(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.contains("process_") {
            continue;
        }
        // Reloads are stamped with the wall clock, even with a fixed data clock.
        if line.starts_with("patchlag_config_last_reload_success_timestamp_seconds ") {
            out.push_str("patchlag_config_last_reload_success_timestamp_seconds 0\n");
            continue;
        }
        if line.starts_with("patchlag_source_poll_duration_seconds{") {
            let (series, _) = line.rsplit_once(' ').expect("sample line");
            out.push_str(series);
            out.push_str(" 0\n");
            continue;
        }
        if line.starts_with("patchlag_build_info{") {
            out.push_str("patchlag_build_info{version=\"VERSION\",revision=\"REVISION\",rustc_version=\"RUSTC\"} 1\n");
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("fixtures") {
        let path = entry.expect("entry").path();
        let target = to.join(path.file_name().expect("name"));
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy fixture");
        }
    }
}

/// A copy of the demo whose watched content file has a fixed modification time: a checkout
/// gives the file the time of the checkout, and that time is the file's release time.
fn copy_demo(dir: &std::path::Path) -> std::path::PathBuf {
    let examples = dir.join("examples");
    std::fs::create_dir_all(examples.join("fixtures")).expect("mkdir");
    std::fs::copy(
        repo_root().join("examples/demo.yml"),
        examples.join("demo.yml"),
    )
    .expect("copy demo.yml");
    copy_tree(
        &repo_root().join("examples/fixtures"),
        &examples.join("fixtures"),
    );
    let cab = std::fs::File::options()
        .write(true)
        .open(examples.join("fixtures/PMImport.cab"))
        .expect("open the content file");
    // 2026-11-20T00:00:00Z
    cab.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_132_800))
        .expect("set mtime");
    examples.join("demo.yml")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_metrics_match_the_golden_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("demo.db");
    let demo = copy_demo(dir.path());
    let exporter = Exporter::start(&[
        "--config.file",
        demo.to_str().expect("utf-8"),
        "--storage.path",
        db.to_str().expect("utf-8"),
        "--debug.fixed-now",
        FIXED_NOW,
    ]);
    exporter.wait_ready().await;
    let got = normalize(&exporter.scrape().await);
    let golden = repo_root().join("tests/golden/demo-metrics.prom");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &got).expect("write golden");
    }
    let want = std::fs::read_to_string(&golden).expect("golden file (UPDATE_GOLDEN=1 to create)");
    if got != want {
        let diff: Vec<String> = want
            .lines()
            .zip(got.lines())
            .filter(|(w, g)| w != g)
            .take(10)
            .map(|(w, g)| format!("- {w}\n+ {g}"))
            .collect();
        panic!(
            "/metrics differs from {} ({} vs {} lines); first differences:\n{}",
            golden.display(),
            want.lines().count(),
            got.lines().count(),
            diff.join("\n")
        );
    }
    if let Some(complaints) = promtool_check_metrics(&want) {
        assert_eq!(complaints, "", "promtool check metrics on the golden file");
    }
}
