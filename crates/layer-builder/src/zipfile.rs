//! The deterministic zip writer: planned entries in, identical bytes out.

use std::fs;
use std::io::{self, Read, Seek, Write};

use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, System, ZipWriter};

use crate::epoch::SourceDateEpoch;
use crate::error::{Error, Result};
use crate::tree::{Content, EntryKind, PlannedEntry, hex};

/// The one compression used for file entries. Folders and symlinks are
/// stored (the `zip` crate always stores them; they have no content worth
/// compressing). The deflate implementation is zlib-rs, pinned by Cargo.lock.
pub const COMPRESSION: &str = "deflate level 9 (zlib-rs)";
const LEVEL: i64 = 9;

/// File-type bits of a Unix mode, as stored in the external attributes.
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;

/// Writes `entries` (already sorted and hashed by [`crate::Tree::plan`]) as
/// a zip into `out`: made-by Unix, the mode in the external attributes, one
/// timestamp, no extra fields, one compression. A file whose bytes no
/// longer match its planned hash fails with [`Error::SourceChanged`].
pub fn write_zip<W: Write + Seek>(
    entries: &[PlannedEntry],
    epoch: SourceDateEpoch,
    out: W,
) -> Result<W> {
    let mut zip = ZipWriter::new(out);
    // SimpleFileOptions carries no extra fields: no `UT` timestamp, no `ux` uid/gid.
    let base = SimpleFileOptions::default()
        .system(System::Unix)
        .last_modified_time(epoch.zip_datetime());
    let zip_error = |entry: &str| {
        let entry = entry.to_owned();
        move |source| Error::Zip { entry, source }
    };
    for entry in entries {
        match entry.kind {
            EntryKind::Folder => {
                let options = base
                    .compression_method(CompressionMethod::Stored)
                    .unix_permissions(S_IFDIR | entry.mode);
                zip.add_directory(entry.name.as_str(), options)
                    .map_err(zip_error(&entry.name))?;
            }
            EntryKind::Symlink => {
                let target = entry.target.as_deref().unwrap_or_default();
                let options = base
                    .compression_method(CompressionMethod::Stored)
                    .unix_permissions(S_IFLNK | 0o777);
                zip.add_symlink(entry.name.as_str(), target, options)
                    .map_err(zip_error(&entry.name))?;
            }
            EntryKind::File => {
                let options = base
                    .compression_method(CompressionMethod::Deflated)
                    .compression_level(Some(LEVEL))
                    .unix_permissions(S_IFREG | entry.mode);
                zip.start_file(entry.name.as_str(), options)
                    .map_err(zip_error(&entry.name))?;
                let written = match &entry.content {
                    Some(Content::Inline(bytes)) => {
                        zip.write_all(bytes).map_err(|e| Error::Zip {
                            entry: entry.name.clone(),
                            source: e.into(),
                        })?;
                        hex(&Sha256::digest(bytes))
                    }
                    Some(Content::Disk(path)) => {
                        let mut file =
                            fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
                        copy_hashing(&mut file, &mut zip).map_err(|e| match e {
                            CopyError::Read(e) => Error::io("reading", path, e),
                            CopyError::Write(e) => Error::Zip {
                                entry: entry.name.clone(),
                                source: e.into(),
                            },
                        })?
                    }
                    None => hex(&Sha256::digest([])),
                };
                if Some(&written) != entry.sha256.as_ref() {
                    let path = match &entry.content {
                        Some(Content::Disk(path)) => path.clone(),
                        _ => entry.name.clone().into(),
                    };
                    return Err(Error::SourceChanged { path });
                }
            }
        }
    }
    zip.finish().map_err(zip_error("(central directory)"))
}

enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

/// Copies `from` into `to` and returns the hex SHA-256 of what was copied.
fn copy_hashing(from: &mut impl Read, to: &mut impl Write) -> Result<String, CopyError> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        hasher.update(&buffer[..read]);
        to.write_all(&buffer[..read]).map_err(CopyError::Write)?;
    }
    Ok(hex(&hasher.finalize()))
}
