//! The one reader for Lambda zips (function zips and layer zips), used by the emulator's
//! layout, the layer builder's ELF check and the `check` command:
//!
//! - [`Listing::read`] reads the central directory only: names, kinds, modes and declared
//!   sizes, and with [`Listing::read_with_heads`] the first bytes of each file, streamed
//!   (enough for an ELF header) without inflating the rest;
//! - every zip opened, for a listing or an unpacking, has each local header checked against
//!   its central record (name, method, CRC, sizes) and no entry's data running into another
//!   header or the directory ([`UnzipError::InconsistentHeaders`]); and an unpacking that
//!   keeps only some files still reads every file to its end: one zip, one verdict, whoever
//!   reads it;
//! - [`check_unzipped_size`] refuses a function and its layers above Lambda's
//!   262,144,000 bytes with Lambda's wording, before a byte is written;
//! - [`unpack`] writes a zip into a folder without ever following a symbolic link: every
//!   folder, file and link is opened or created relative to its parent folder's descriptor
//!   with `O_NOFOLLOW`, and modes are set on the opened descriptor (`fchmod`), so a link
//!   planted by an earlier entry (or an earlier layer) can never redirect a write or a
//!   `chmod` to the host. An entry that inflates past the size its header declares is cut
//!   there and refused (a zip bomb lying in its headers).

#![cfg_attr(test, allow(clippy::unwrap_used))] // Tests fail loudly on purpose.

mod headers;
mod unpack;

use std::fs;
use std::io::Read as _;
use std::path::{Component, Path, PathBuf};

pub use unpack::{Keep, unpack};

/// Lambda's limit on a function and all its layers, unzipped: 262,144,000 bytes.
pub const MAX_UNZIPPED_BYTES: u64 = lamina_context::facts::MAX_UNZIPPED_BYTES;

/// Why a zip could not be read or unpacked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnzipError {
    /// Reading a zip or writing the tree failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, naming the file.
        what: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The file is not a readable zip.
    #[error("{zip}: not a readable zip: {reason}")]
    BadZip {
        /// The zip at fault.
        zip: PathBuf,
        /// What the zip reader said.
        reason: String,
    },
    /// An entry would land outside the folder it is unpacked into.
    #[error("{zip}: entry `{entry}` escapes the folder it is unpacked into; refusing it")]
    EscapingEntry {
        /// The zip at fault.
        zip: PathBuf,
        /// The entry's name as stored.
        entry: String,
    },
    /// An entry would be written through (or replace a folder by) a symbolic link.
    #[error(
        "{zip}: entry `{entry}` would be written through the symbolic link `{link}`; refusing it"
    )]
    ThroughSymlink {
        /// The zip at fault.
        zip: PathBuf,
        /// The entry's name as stored.
        entry: String,
        /// The link in its way, relative to the folder unpacked into.
        link: String,
    },
    /// A file (or link) is where an entry needs a folder, or a folder where it needs a file.
    #[error("{zip}: entry `{entry}` collides with `{other}`, which is a {found}; refusing it")]
    Collision {
        /// The zip at fault.
        zip: PathBuf,
        /// The entry's name as stored.
        entry: String,
        /// The path in its way, relative to the folder unpacked into.
        other: String,
        /// What is there: `file` or `folder`.
        found: &'static str,
    },
    /// A local header says something else than the central directory (another name, size,
    /// checksum or method), or an entry's data runs into another's header: tools that read
    /// the local headers would see other files than the ones listed and checked.
    #[error(
        "{zip}: its local headers do not match its central directory ({reason}): tools reading \
         one or the other would see different files; refusing it. Rebuild the zip with a \
         standard tool (e.g. `zip -r` or `cargo lamina build`)"
    )]
    InconsistentHeaders {
        /// The zip at fault.
        zip: PathBuf,
        /// What the zip reader found.
        reason: String,
    },
    /// An entry inflates to more bytes than its header declares.
    #[error(
        "{zip}: entry `{entry}` inflates past the {declared} bytes its header declares \
         (a zip bomb, or a corrupt zip); refusing it"
    )]
    LyingSize {
        /// The zip at fault.
        zip: PathBuf,
        /// The entry's name as stored.
        entry: String,
        /// The size its header declares.
        declared: u64,
    },
    /// The function and its layers unzip to more than Lambda accepts. The first sentence is
    /// Lambda's own (`InvalidParameterValueException` from `CreateFunction`).
    #[error(
        "Unzipped size must be smaller than {limit} bytes: {} unzip(s) to {size} bytes",
        zips.iter().map(|z| z.display().to_string()).collect::<Vec<_>>().join(" + ")
    )]
    TooLarge {
        /// The zips (function first, then layers) counted.
        zips: Vec<PathBuf>,
        /// Their total declared unzipped size.
        size: u64,
        /// The limit, [`MAX_UNZIPPED_BYTES`] on Lambda.
        limit: u64,
    },
}

/// What an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A folder.
    Folder,
    /// A symbolic link (its target is the entry's content).
    Symlink,
}

/// One entry as the central directory describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedEntry {
    /// The name as stored (lossy for names that are not UTF-8).
    pub name: String,
    /// What it is.
    pub kind: EntryKind,
    /// The size its header declares, in bytes.
    pub size: u64,
    /// The unix permission bits, when the zip records them.
    pub mode: Option<u32>,
    /// The first bytes of a file's content (empty unless read with
    /// [`Listing::read_with_heads`], and for folders and links).
    pub head: Vec<u8>,
}

/// A zip's central directory, read without unpacking anything.
#[derive(Clone, Debug)]
pub struct Listing {
    /// The zip read.
    pub zip: PathBuf,
    /// The zip's own size on disk.
    pub zip_size: u64,
    /// Its entries, in the zip's order.
    pub entries: Vec<ListedEntry>,
}

impl Listing {
    /// Reads `zip`'s central directory: names, kinds, modes and declared sizes.
    pub fn read(zip: &Path) -> Result<Listing, UnzipError> {
        Self::read_with_heads(zip, 0)
    }

    /// Like [`Listing::read`], also inflating the first `head` bytes of each file (and no
    /// more), e.g. 64 for an ELF header.
    pub fn read_with_heads(zip: &Path, head: usize) -> Result<Listing, UnzipError> {
        let mut archive = open(zip)?;
        let zip_size = fs::metadata(zip)
            .map_err(io_error(format!("reading the size of {}", zip.display())))?
            .len();
        let mut entries = Vec::with_capacity(archive.len());
        for index in 0..archive.len() {
            let mut entry = archive.by_index(index).map_err(bad_zip(zip))?;
            let kind = kind_of(&entry);
            let mut bytes = Vec::new();
            if head > 0 && kind == EntryKind::File {
                // A corrupt entry shows up when it is unpacked; the listing only peeks.
                let _ = (&mut entry).take(head as u64).read_to_end(&mut bytes);
            }
            entries.push(ListedEntry {
                name: stored_name(&entry, index),
                kind,
                size: entry.size(),
                mode: entry.unix_mode().map(|m| m & 0o7777),
                head: bytes,
            });
        }
        Ok(Listing {
            zip: zip.to_path_buf(),
            zip_size,
            entries,
        })
    }

    /// The total size its headers declare, unzipped.
    pub fn unzipped_size(&self) -> u64 {
        self.entries
            .iter()
            .fold(0u64, |total, e| total.saturating_add(e.size))
    }
}

/// Refuses `listings` (a function and its layers) when together they unzip past `limit`
/// ([`MAX_UNZIPPED_BYTES`] on Lambda), with Lambda's message. Returns the total.
pub fn check_unzipped_size(listings: &[&Listing], limit: u64) -> Result<u64, UnzipError> {
    let size = listings
        .iter()
        .fold(0u64, |total, l| total.saturating_add(l.unzipped_size()));
    if size > limit {
        return Err(UnzipError::TooLarge {
            zips: listings.iter().map(|l| l.zip.clone()).collect(),
            size,
            limit,
        });
    }
    Ok(size)
}

/// Opens `zip` and checks every local header against the central directory, so that the
/// listing (what `check` reports on) and the unpacking (what runs) read the same entries and
/// refuse the same zips with the same error.
pub(crate) fn open(zip: &Path) -> Result<zip::ZipArchive<fs::File>, UnzipError> {
    let file = fs::File::open(zip).map_err(io_error(format!("opening {}", zip.display())))?;
    let mut archive = zip::ZipArchive::new(file).map_err(bad_zip(zip))?;
    headers::verify(zip, &mut archive)?;
    Ok(archive)
}

pub(crate) fn bad_zip(zip: &Path) -> impl Fn(zip::result::ZipError) -> UnzipError + '_ {
    move |err| UnzipError::BadZip {
        zip: zip.to_path_buf(),
        reason: err.to_string(),
    }
}

pub(crate) fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> UnzipError {
    let what = what.into();
    move |source| UnzipError::Io { what, source }
}

pub(crate) fn stored_name<R: std::io::Read>(
    entry: &zip::read::ZipFile<'_, R>,
    index: usize,
) -> String {
    entry
        .name()
        .map(|n| n.into_owned())
        .unwrap_or_else(|_| format!("#{index}"))
}

pub(crate) fn kind_of<R: std::io::Read>(entry: &zip::read::ZipFile<'_, R>) -> EntryKind {
    if entry.is_dir() {
        EntryKind::Folder
    } else if entry.is_symlink() {
        EntryKind::Symlink
    } else {
        EntryKind::File
    }
}

/// `a/./b/../c` → `a/c`; `None` if it climbs above its start or is absolute.
pub(crate) fn normalise(path: &Path) -> Option<PathBuf> {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_stays_inside() {
        assert_eq!(
            normalise(Path::new("a/./b/../c")),
            Some(PathBuf::from("a/c"))
        );
        assert_eq!(normalise(Path::new("a/../../c")), None);
        assert_eq!(normalise(Path::new("/etc/passwd")), None);
    }
}
