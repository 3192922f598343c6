//! Why a zip could not be read or unpacked, and the helpers that word it.

use std::path::{Path, PathBuf};

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
        /// The limit, [`MAX_UNZIPPED_BYTES`](crate::MAX_UNZIPPED_BYTES) on Lambda.
        limit: u64,
    },
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
