//! SHA-256 of files and streams, and its hex spelling: what the tree (planning), the zip
//! writer and the build (manifests, unchanged checks) all hash with. A module of its own so
//! that none of them names another for it.

use std::fs;
use std::io::{self, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Size and SHA-256 of a file.
pub(crate) fn sha256_file(path: &Path) -> Result<(u64, [u8; 32])> {
    let mut file = fs::File::open(path).map_err(|e| Error::io("opening", path, e))?;
    // A sink never fails to take bytes: any error is the file's.
    copy_hashing(&mut file, &mut io::sink()).map_err(|e| match e {
        CopyError::Read(e) | CopyError::Write(e) => Error::io("reading", path, e),
    })
}

/// Why [`copy_hashing`] stopped: the reader's error or the writer's.
pub(crate) enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

/// Copies `from` into `to` and returns the size and SHA-256 of what was copied.
pub(crate) fn copy_hashing(
    from: &mut impl Read,
    to: &mut impl Write,
) -> Result<(u64, [u8; 32]), CopyError> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let read = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        size += read as u64;
        hasher.update(&buffer[..read]);
        to.write_all(&buffer[..read]).map_err(CopyError::Write)?;
    }
    Ok((size, hasher.finalize().into()))
}
