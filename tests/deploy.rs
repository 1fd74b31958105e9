//! The deployment files stay usable: shipped configurations validate, and the systemd unit
//! passes `systemd-analyze verify` (where systemd is installed) with its binary in place.

mod common;

use std::process::Command;

use common::*;

#[test]
fn shipped_configurations_are_valid() {
    for file in ["deploy/systemd/patchlag.yml", "examples/demo.yml"] {
        let out = Command::new(BIN)
            .args([
                "--config.file",
                repo_root().join(file).to_str().expect("path"),
            ])
            .arg("--config.check")
            .output()
            .expect("run");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{file}: {stdout}");
        assert!(stdout.starts_with("SUCCESS: "), "{file}: {stdout}");
    }
}

#[test]
fn systemd_unit_verifies() {
    let Ok(probe) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("skipping: systemd-analyze not found");
        return;
    };
    assert!(probe.status.success());
    // `verify` checks that ExecStart= exists: point it at the binary under test.
    let unit =
        std::fs::read_to_string(repo_root().join("deploy/systemd/patchlag-exporter.service"))
            .expect("unit")
            .replace("/usr/local/bin/patchlag-exporter", BIN);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("patchlag-exporter.service");
    std::fs::write(&path, unit).expect("write");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("patchlag-exporter.service"),
        "warnings about the unit: {stderr}"
    );
}
