//! The deterministic zip writer: planned entries in, identical bytes out.

use std::fs;
use std::io::{Cursor, Seek, Write};
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, System, ZipArchive, ZipWriter};

use crate::digest::{CopyError, copy_hashing, hex};
use crate::epoch::SourceDateEpoch;
use crate::error::{Error, Result};
use crate::tree::{Content, EntryKind, PlannedEntry};

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
    // SimpleFileOptions carries no extra fields: no `UT` timestamp, no `ux` uid/gid.
    let base = SimpleFileOptions::default()
        .system(System::Unix)
        .last_modified_time(epoch.zip_datetime());
    // Deflate is nearly all the work: every file is compressed on its own core into a
    // one-entry archive, then copied raw, in order, into the real one. Each entry's bytes
    // depend only on its content and options, so the result is the same on any machine.
    let files: Vec<&PlannedEntry> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::File)
        .collect();
    let mut compressed = compress_all(&files, base)?.into_iter();
    let mut zip = ZipWriter::new(out);
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
                let compressed = compressed
                    .next()
                    .ok_or_else(|| internal(&entry.name, "no compressed entry"))??;
                let mut single =
                    ZipArchive::new(Cursor::new(compressed)).map_err(zip_error(&entry.name))?;
                let file = single.by_index_raw(0).map_err(zip_error(&entry.name))?;
                zip.raw_copy_file(file).map_err(zip_error(&entry.name))?;
            }
        }
    }
    zip.finish().map_err(zip_error("(central directory)"))
}

fn zip_error(entry: &str) -> impl FnOnce(zip::result::ZipError) -> Error {
    let entry = entry.to_owned();
    move |source| Error::Zip { entry, source }
}

fn internal(entry: &str, what: &str) -> Error {
    Error::Zip {
        entry: entry.to_owned(),
        source: zip::result::ZipError::InvalidArchive(what.to_owned().into()),
    }
}

/// Each file of `files` deflated into a one-entry zip in memory, in the same order,
/// on as many threads as there are cores.
fn compress_all(files: &[&PlannedEntry], base: SimpleFileOptions) -> Result<Vec<Result<Vec<u8>>>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().max(1));
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<Result<Vec<u8>>>> = (0..files.len()).map(|_| None).collect();
    let done: Vec<Vec<(usize, Result<Vec<u8>>)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(entry) = files.get(index) else { break };
                        mine.push((index, compress_one(entry, base)));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    for (index, result) in done.into_iter().flatten() {
        results[index] = Some(result);
    }
    results
        .into_iter()
        .zip(files)
        .map(|(result, entry)| {
            result.ok_or_else(|| internal(&entry.name, "a compression thread died"))
        })
        .collect()
}

/// One file entry as a one-entry zip in memory. A file whose bytes no longer match
/// its planned hash fails with [`Error::SourceChanged`].
fn compress_one(entry: &PlannedEntry, base: SimpleFileOptions) -> Result<Vec<u8>> {
    let options = base
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(LEVEL))
        .unix_permissions(S_IFREG | entry.mode);
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
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
            let mut file = fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
            let (_, digest) = copy_hashing(&mut file, &mut zip).map_err(|e| match e {
                CopyError::Read(e) => Error::io("reading", path, e),
                CopyError::Write(e) => Error::Zip {
                    entry: entry.name.clone(),
                    source: e.into(),
                },
            })?;
            hex(&digest)
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
    Ok(zip.finish().map_err(zip_error(&entry.name))?.into_inner())
}
