//! The configuration file: any text is either a valid configuration or a one-line error.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use patchlag_exporter::config::Config;

fuzz_target!(|text: &str| {
    if let Err(e) = Config::parse(Path::new("fuzz.yml"), text) {
        let message = e.to_string();
        assert!(!message.contains('\n'), "a multi-line error: {message:?}");
        assert!(message.starts_with("fuzz.yml"), "{message:?}");
    }
});
