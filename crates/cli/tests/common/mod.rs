//! Shared by the tests that run `cargo lamina` on this repository's own samples.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// The repository's root.
pub fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The target folder these tests build in: shared with the scratch-project tests, so the
/// runtime layer and the samples are compiled once.
pub fn target() -> PathBuf {
    let dir = repository().join("target/scratch-projects/repository-runtime");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
