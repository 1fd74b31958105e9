//! Embeds the git revision and the rustc version for `--version` and `patchlag_build_info`.
use std::process::Command;

fn main() {
    // Builds without a git checkout (container images) pass the revision in the environment.
    let revision = std::env::var("PATCHLAG_GIT_REVISION")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(git_revision);
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let rustc_version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=PATCHLAG_GIT_REVISION={revision}");
    println!("cargo:rustc-env=PATCHLAG_RUSTC_VERSION={rustc_version}");
    println!("cargo:rerun-if-env-changed=PATCHLAG_GIT_REVISION");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs");
}

fn git_revision() -> String {
    Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}
