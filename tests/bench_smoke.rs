//! `scripts/bench.sh --smoke`: the benchmark runs end to end (generated history, the exporter,
//! nginx, wrk, the result table) in a few seconds. Its numbers mean nothing here; that it works
//! does. Runs when nginx and wrk are installed, and always in CI, where the test command
//! installs them.

mod common;

#[path = "../benches/support/history.rs"]
mod history;

use std::path::Path;
use std::process::Command;

fn installed(tool: &str) -> bool {
    let in_path = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()));
    in_path || Path::new("/usr/sbin").join(tool).is_file()
}

#[test]
fn bench_script_runs_end_to_end() {
    let missing: Vec<&str> = ["nginx", "wrk", "curl", "gzip"]
        .into_iter()
        .filter(|t| !installed(t))
        .collect();
    if !missing.is_empty() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{missing:?} required in CI (the test command installs them)"
        );
        eprintln!("skipped: {missing:?} not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // Two years are enough to see it work, and quick for a debug build to load.
    let now = chrono::Utc::now().timestamp();
    history::write_years(dir.path(), now, 2).expect("fixtures");
    let out = Command::new(common::repo_root().join("scripts/bench.sh"))
        .args(["--smoke", "--bin", common::BIN, "--fixtures"])
        .arg(dir.path())
        .output()
        .expect("run scripts/bench.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench.sh failed:\n{stdout}\n{stderr}");
    for row in [
        "| /metrics throughput vs nginx, plain",
        "| /metrics throughput vs nginx, gzip",
        "| start-up to ready, empty database",
        "| start-up to ready, history stored",
        "| resident memory after ",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(row))
            .unwrap_or_else(|| panic!("no row {row:?} in:\n{stdout}"));
        // Every measured row carries a number.
        let result = line.split('|').nth(2).unwrap_or_default();
        assert!(
            result.chars().any(|c| c.is_ascii_digit()),
            "no measurement in {line:?}"
        );
    }
}
