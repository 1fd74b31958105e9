//! What this executable is: shown by `--version`, `patchlag_build_info`, the landing page and
//! the status API.

pub struct BuildInfo {
    pub version: &'static str,
    pub revision: &'static str,
    pub rustc_version: &'static str,
}

pub const BUILD: BuildInfo = BuildInfo {
    version: env!("CARGO_PKG_VERSION"),
    revision: env!("PATCHLAG_GIT_REVISION"),
    rustc_version: env!("PATCHLAG_RUSTC_VERSION"),
};
