//! patchlag-exporter: measures how long patch-content vendors take to ship content after a
//! security bulletin, and exposes it to Prometheus.
//!
//! Data flows one way: `poller` fetches with `sources::fetch` and parses with a `sources` kind,
//! `store` keeps the history, `snapshot` reads it into a `model`, and `metrics`, `server` and
//! `report` present it.

pub mod app;
pub mod build_info;
pub mod chart;
pub mod clock;
pub mod config;
pub mod duration;
pub mod exposition;
pub mod html;
pub mod landing;
pub mod limits;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod poller;
pub mod report;
pub mod server;
pub mod snapshot;
pub mod sources;
pub mod status;
pub mod store;
pub mod timeparse;
pub mod web;
pub mod yaml;

/// Selects the TLS crypto implementation (ring) for every client and server in the process.
/// Safe to call more than once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
