//! Building an artifact: plan, skip if unchanged, write zip and manifest to
//! temporary files, check limits, rename into place.

use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use lamina_unzip::check_unzipped_total;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tempfile::NamedTempFile;

use crate::digest::{hex, sha256_file};
use crate::epoch::SourceDateEpoch;
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::manifest::{Artifact, ArtifactKind, Manifest, ManifestEntry, manifest_path};
use crate::tree::{EntryKind, PlannedEntry, Tree};
use crate::zipfile::{COMPRESSION, write_zip};

/// Bumped whenever the writer's output for the same inputs changes, so
/// the inputs digest stops matching zips written by older code.
const WRITER_FORMAT: u32 = 1;

/// How [`build`] treats the zip on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Write the zip and manifest unless the inputs digest says nothing changed.
    Write,
    /// Rebuild in a temporary file and fail unless it equals the zip on disk
    /// byte for byte; nothing on disk is touched.
    Check,
}

/// Settings of one build.
#[derive(Clone, Copy, Debug, Default)]
pub struct BuildOptions {
    /// The timestamp of every entry.
    pub epoch: SourceDateEpoch,
    /// Limits to check; Lambda's by default.
    pub limits: Limits,
    /// For a function: the layers it uses, already built. Their count and
    /// unzipped total are checked with the function before anything is written.
    pub layers: LayerUsage,
}

/// The layers a function uses, as far as the limits care.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayerUsage {
    /// How many layers.
    pub count: usize,
    /// Their unzipped sizes added up.
    pub unzipped_bytes: u64,
}

/// What [`build`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// A new zip was written.
    Written,
    /// The inputs had not changed; the zip on disk was kept.
    Unchanged,
    /// `--check`: the rebuilt zip equals the one on disk.
    Verified,
}

impl Status {
    /// `written`, `unchanged` or `verified`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Written => "written",
            Status::Unchanged => "unchanged",
            Status::Verified => "verified",
        }
    }
}

/// The result of a successful [`build`].
#[derive(Clone, Debug)]
pub struct Built {
    /// What was done.
    pub status: Status,
    /// Where the zip is.
    pub zip_path: PathBuf,
    /// Where its manifest is.
    pub manifest_path: PathBuf,
    /// The manifest (as on disk after [`Mode::Write`], as rebuilt after [`Mode::Check`]).
    pub manifest: Manifest,
}

/// Builds `tree` into the zip `zip_path` and its manifest beside it.
///
/// No half-written file is ever left: both are written to temporary files
/// in the same folder and renamed, and the temporary files are removed on
/// any error (a vanished source, a limit exceeded).
pub fn build(
    tree: &Tree,
    artifact: &Artifact,
    zip_path: &Path,
    options: &BuildOptions,
    mode: Mode,
) -> Result<Built> {
    let entries = tree.plan()?;
    let unzipped_size: u64 = entries.iter().map(|e| e.size).sum();
    let limits = &options.limits;
    check_unzipped_total([unzipped_size], limits.max_unzipped_bytes).map_err(|over| {
        Error::UnzippedTooLarge {
            artifact: label(artifact),
            size: over.size,
            limit: over.limit,
        }
    })?;
    if options.layers.count > limits.max_layers_per_function {
        return Err(Error::TooManyLayers {
            function: label(artifact),
            count: options.layers.count,
            limit: limits.max_layers_per_function,
        });
    }
    if options.layers.count > 0 {
        let sizes = [unzipped_size, options.layers.unzipped_bytes];
        check_unzipped_total(sizes, limits.max_unzipped_bytes).map_err(|over| {
            Error::FunctionWithLayersTooLarge {
                function: label(artifact),
                layers: options.layers.count,
                size: over.size,
                limit: over.limit,
            }
        })?;
    }
    let digest = inputs_digest(artifact, options.epoch, &entries);
    let manifest_path = manifest_path(zip_path);

    if mode == Mode::Write
        && let Some(manifest) = unchanged_manifest(zip_path, &manifest_path, &digest)
    {
        return Ok(Built {
            status: Status::Unchanged,
            zip_path: zip_path.to_owned(),
            manifest_path,
            manifest,
        });
    }

    let folder = parent_folder(zip_path);
    fs::create_dir_all(&folder).map_err(|e| Error::io("creating", &folder, e))?;
    let temp_zip = NamedTempFile::with_prefix_in(".lamina-zip-", &folder)
        .map_err(|e| Error::io("creating a temporary file in", &folder, e))?;
    let writer = BufWriter::new(temp_zip.as_file());
    let mut writer = write_zip(&entries, options.epoch, writer)?;
    writer
        .flush()
        .map_err(|e| Error::io("writing", temp_zip.path(), e))?;
    drop(writer);
    let (zip_size, zip_digest) = sha256_file(temp_zip.path())?;
    if zip_size > options.limits.max_zip_bytes {
        return Err(Error::ZipTooLarge {
            artifact: label(artifact),
            size: zip_size,
            limit: options.limits.max_zip_bytes,
        });
    }
    let manifest = Manifest {
        format: 1,
        artifact: artifact.name.clone(),
        kind: artifact.kind,
        architecture: artifact.architecture,
        compatible_runtimes: artifact.compatible_runtimes.clone(),
        source_date_epoch: options.epoch.seconds(),
        compression: COMPRESSION.to_owned(),
        inputs_digest: digest,
        zip_sha256: hex(&zip_digest),
        code_sha256: base64::engine::general_purpose::STANDARD.encode(zip_digest),
        zip_size,
        unzipped_size,
        files: entries.iter().map(manifest_entry).collect(),
    };

    if mode == Mode::Check {
        if !zip_path.is_file() {
            return Err(Error::CheckMissing {
                artifact: label(artifact),
                path: zip_path.to_owned(),
            });
        }
        let (_, on_disk) = sha256_file(zip_path)?;
        let on_disk = hex(&on_disk);
        if on_disk != manifest.zip_sha256 {
            return Err(Error::CheckMismatch {
                artifact: label(artifact),
                path: zip_path.to_owned(),
                on_disk,
                rebuilt: manifest.zip_sha256,
            });
        }
        return Ok(Built {
            status: Status::Verified,
            zip_path: zip_path.to_owned(),
            manifest_path,
            manifest,
        });
    }

    let temp_manifest = write_temp(&folder, manifest.to_json().as_bytes())?;
    persist(temp_zip, zip_path)?;
    persist(temp_manifest, &manifest_path)?;
    Ok(Built {
        status: Status::Written,
        zip_path: zip_path.to_owned(),
        manifest_path,
        manifest,
    })
}

/// Zips a whole folder with no limits: the benchmark's entry point
/// (`cargo xtask bench`), also handy for ad-hoc trees.
pub fn zip_folder(source: &Path, zip_path: &Path, epoch: SourceDateEpoch) -> Result<Built> {
    let mut tree = Tree::new();
    tree.add_folder(".", source)?;
    let artifact = Artifact {
        name: zip_path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        kind: ArtifactKind::Layer,
        architecture: crate::Architecture::X86_64,
        compatible_runtimes: vec![crate::DEFAULT_RUNTIME.to_owned()],
    };
    build(
        &tree,
        &artifact,
        zip_path,
        &BuildOptions {
            epoch,
            limits: Limits::NONE,
            ..Default::default()
        },
        Mode::Write,
    )
}

fn label(artifact: &Artifact) -> String {
    format!("{} ({})", artifact.name, artifact.architecture)
}

fn parent_folder(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// The manifest on disk, if it was written for the same inputs and the zip
/// beside it is still the one it describes.
fn unchanged_manifest(zip_path: &Path, manifest_path: &Path, digest: &str) -> Option<Manifest> {
    let manifest = Manifest::read(manifest_path).ok()?;
    if manifest.inputs_digest != digest {
        return None;
    }
    let (size, sha) = sha256_file(zip_path).ok()?;
    (size == manifest.zip_size && hex(&sha) == manifest.zip_sha256).then_some(manifest)
}

/// SHA-256 of a small fixed zip written by this very binary. Part of the
/// inputs digest, so a change in the deflate implementation's output (a
/// zlib-rs upgrade in Cargo.lock) makes every zip "changed" instead of
/// silently keeping zips an older writer produced.
fn writer_fingerprint() -> &'static str {
    static FINGERPRINT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    FINGERPRINT.get_or_init(|| {
        let text: Vec<u8> = (0u32..2000)
            .flat_map(|i| format!("{i} fingerprint {}\n", i * 7919 % 1000).into_bytes())
            .collect();
        let mut tree = Tree::new();
        let planned = tree
            .add_bytes("probe/text", text, crate::FileMode::Regular)
            .and_then(|()| tree.add_symlink("probe/link", "text"))
            .and_then(|()| tree.plan())
            .and_then(|entries| {
                write_zip(
                    &entries,
                    SourceDateEpoch::DEFAULT,
                    std::io::Cursor::new(Vec::new()),
                )
            });
        match planned {
            Ok(cursor) => hex(&Sha256::digest(cursor.into_inner())),
            // Writing to memory does not fail; if it ever did, never match an old digest.
            Err(error) => format!("unavailable: {error}"),
        }
    })
}

#[derive(Serialize)]
struct DigestInput<'a> {
    writer_format: u32,
    writer_fingerprint: &'a str,
    writer_version: &'a str,
    compression: &'a str,
    epoch: i64,
    artifact: &'a str,
    kind: ArtifactKind,
    architecture: crate::Architecture,
    compatible_runtimes: &'a [String],
    entries: Vec<ManifestEntry>,
}

/// SHA-256 over everything that decides the zip's and manifest's bytes.
fn inputs_digest(artifact: &Artifact, epoch: SourceDateEpoch, entries: &[PlannedEntry]) -> String {
    let input = DigestInput {
        writer_format: WRITER_FORMAT,
        writer_fingerprint: writer_fingerprint(),
        writer_version: env!("CARGO_PKG_VERSION"),
        compression: COMPRESSION,
        epoch: epoch.seconds(),
        artifact: &artifact.name,
        kind: artifact.kind,
        architecture: artifact.architecture,
        compatible_runtimes: &artifact.compatible_runtimes,
        entries: entries.iter().map(manifest_entry).collect(),
    };
    // JSON of strings and numbers: unambiguous and cannot fail.
    let bytes = serde_json::to_vec(&input).unwrap_or_default();
    hex(&Sha256::digest(bytes))
}

fn manifest_entry(entry: &PlannedEntry) -> ManifestEntry {
    ManifestEntry {
        path: entry.name.clone(),
        kind: entry.kind,
        mode: format!("{:04o}", entry.mode),
        size: if entry.kind == EntryKind::Folder {
            0
        } else {
            entry.size
        },
        sha256: entry.sha256.clone(),
        target: entry.target.clone(),
    }
}

/// Writes `bytes` to a new temporary file in `folder`.
fn write_temp(folder: &Path, bytes: &[u8]) -> Result<NamedTempFile> {
    let mut temp = NamedTempFile::with_prefix_in(".lamina-manifest-", folder)
        .map_err(|e| Error::io("creating a temporary file in", folder, e))?;
    temp.write_all(bytes)
        .map_err(|e| Error::io("writing", temp.path().to_owned(), e))?;
    Ok(temp)
}

/// Makes a finished temporary file readable by all (0644, whatever the
/// umask) and renames it to `dest`.
fn persist(temp: NamedTempFile, dest: &Path) -> Result<()> {
    let file = temp.as_file();
    file.set_permissions(fs::Permissions::from_mode(0o644))
        .map_err(|e| Error::io("setting the mode of", temp.path().to_owned(), e))?;
    file.sync_all()
        .map_err(|e| Error::io("syncing", temp.path().to_owned(), e))?;
    temp.persist(dest)
        .map_err(|e| Error::io("renaming a temporary file to", dest, e.error))?;
    Ok(())
}

/// A zip's SHA-256 in hex, the way a manifest records it.
pub fn zip_sha256(path: &Path) -> Result<String> {
    Ok(hex(&sha256_file(path)?.1))
}
