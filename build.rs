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
    // Rebuild when a commit is made. Ask git where HEAD and the refs live (in a linked worktree
    // `.git` is a file, not a directory); a watched path that does not exist would make Cargo
    // rerun this script, and rebuild the crate, on every build.
    for what in ["HEAD", "refs", "packed-refs"] {
        let path = Command::new("git")
            .args(["rev-parse", "--git-path", what])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_string());
        if let Some(path) = path.filter(|p| std::path::Path::new(p).exists()) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
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
