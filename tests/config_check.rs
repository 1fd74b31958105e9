//! `--config.check` against one bad file per validation error (each file's first line holds
//! the expected message) and against every shipped example.

mod common;

use std::process::Command;

use common::{repo_root, BIN};

#[test]
fn every_bad_configuration_is_rejected_with_file_line_and_key() {
    let dir = repo_root().join("tests/fixtures/config/bad");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 20, "one file per validation error");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        let expected = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .expect("first line: # expect: ...");
        // Run from the fixture directory so the file name in the message is stable.
        let name = file.file_name().expect("name").to_str().expect("utf-8");
        let out = Command::new(BIN)
            .current_dir(&dir)
            .args(["--config.file", name, "--config.check"])
            .output()
            .expect("run");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{name}: {stdout}");
        assert_eq!(
            stdout.trim_end(),
            format!("FAILED: {name}{expected}"),
            "{name}"
        );
        assert_eq!(stdout.lines().count(), 1, "{name}: one line");
        assert!(out.stderr.is_empty(), "{name}: nothing else");
    }
}

#[test]
fn shipped_examples_are_valid() {
    for entry in std::fs::read_dir(repo_root().join("examples")).expect("examples") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yml") {
            let out = Command::new(BIN)
                .args([
                    "--config.file",
                    path.to_str().expect("utf-8"),
                    "--config.check",
                ])
                .output()
                .expect("run");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert_eq!(out.status.code(), Some(0), "{}: {stdout}", path.display());
            assert!(stdout.starts_with("SUCCESS: "), "{stdout}");
        }
    }
}

#[test]
fn invalid_configuration_at_start_is_exit_1_with_the_message() {
    let file = repo_root().join("tests/fixtures/config/bad/bad-duration.yml");
    let out = Command::new(BIN)
        .args([
            "--config.file",
            file.to_str().expect("utf-8"),
            "--web.listen-address",
            "127.0.0.1:0",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    // Said once, as a log line.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(r#" level=error msg="invalid configuration" error=""#)
            && stderr.contains("bad-duration.yml:4:11: tiers.english.goal: invalid duration"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
