//! The JSON manifest written beside each zip, and the artifact's identity.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

// Re-exported: a manifest names its architecture, and modules that read manifests name both.
pub use crate::architecture::Architecture;
use crate::error::{Error, Result};
use crate::tree::EntryKind;

/// Whether a zip is a function's code (task root) or a layer (`/opt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactKind {
    /// Unpacked into `/var/task`.
    Function,
    /// Unpacked into `/opt`.
    Layer,
}

/// What a zip is: its name, kind, architecture and runtimes. Recorded in
/// the manifest and part of the inputs digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// The sample or layer name.
    pub name: String,
    /// Function or layer.
    pub kind: ArtifactKind,
    /// The architecture the binaries in it were built for.
    pub architecture: Architecture,
    /// Lambda runtimes it is meant for (`provided.al2023`).
    pub compatible_runtimes: Vec<String>,
}

/// The runtime every lamina artifact targets.
pub const DEFAULT_RUNTIME: &str = "provided.al2023";

/// Everything known about a written zip. Keys are serialised in the order
/// of the fields, so the file is stable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Version of this manifest's shape.
    pub format: u32,
    /// The sample or layer name.
    pub artifact: String,
    /// Function or layer.
    pub kind: ArtifactKind,
    /// `x86_64` or `arm64`.
    pub architecture: Architecture,
    /// Lambda runtimes it is meant for.
    pub compatible_runtimes: Vec<String>,
    /// The timestamp on every entry, seconds since 1970 (after clamping).
    pub source_date_epoch: i64,
    /// Compression method, level and implementation.
    pub compression: String,
    /// SHA-256 over everything that determines the zip's bytes; equal
    /// digests mean the zip need not be rewritten.
    pub inputs_digest: String,
    /// SHA-256 of the zip, hex.
    pub zip_sha256: String,
    /// SHA-256 of the zip, base64: what Lambda reports as `CodeSha256`.
    pub code_sha256: String,
    /// Size of the zip in bytes.
    pub zip_size: u64,
    /// Sum of the entries' content sizes.
    pub unzipped_size: u64,
    /// Every entry, in zip order.
    pub files: Vec<ManifestEntry>,
}

/// One entry of a manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Zip entry name; folders end with `/`.
    pub path: String,
    /// Folder, file or symlink.
    pub kind: EntryKind,
    /// Octal permission bits: `0755`, `0644` or `0777`.
    pub mode: String,
    /// Content size in bytes.
    pub size: u64,
    /// SHA-256 of the content, hex (files only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// A symlink's target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// The manifest's path for a zip: `bootstrap.zip` → `bootstrap.zip.manifest.json`.
pub fn manifest_path(zip_path: &Path) -> PathBuf {
    let mut name = zip_path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".manifest.json");
    zip_path.with_file_name(name)
}

impl Manifest {
    /// Reads a manifest written by this crate.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
        serde_json::from_slice(&text).map_err(|source| Error::Manifest {
            path: path.to_owned(),
            source,
        })
    }

    /// The manifest as pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        // Serialising plain structs of strings and numbers cannot fail.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}
