//! A zip's central directory, read without unpacking anything, and the unzipped-size check.

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use crate::entry::{EntryKind, kind_of, stored_name};
use crate::error::{UnzipError, bad_zip, io_error};
use crate::headers;

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
/// ([`MAX_UNZIPPED_BYTES`](crate::MAX_UNZIPPED_BYTES) on Lambda), with Lambda's message. Returns the total.
pub fn check_unzipped_size(listings: &[&Listing], limit: u64) -> Result<u64, UnzipError> {
    check_unzipped_total(listings.iter().map(|l| l.unzipped_size()), limit).map_err(|over| {
        UnzipError::TooLarge {
            zips: listings.iter().map(|l| l.zip.clone()).collect(),
            size: over.size,
            limit: over.limit,
        }
    })
}

/// A function and its layers over the unzipped limit: what [`check_unzipped_total`]
/// refuses. Each caller words it for what it counted (zips, a build's tree, manifests);
/// shown alone it is Lambda's sentence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Unzipped size must be smaller than {limit} bytes: {size} bytes")]
pub struct OverUnzippedLimit {
    /// The sizes added up (saturating at `u64::MAX`).
    pub size: u64,
    /// The limit they are over.
    pub limit: u64,
}

/// Lambda's rule on a function and all its layers, the one check of it: their unzipped
/// `sizes` added up must not exceed `limit` ([`MAX_UNZIPPED_BYTES`](crate::MAX_UNZIPPED_BYTES)
/// on Lambda; smaller ones in tests). Sizes come from zips' headers and manifests, from
/// outside the process, so they add up saturating: no overflow (a panic, or a wrapped
/// total that passes) whatever they declare. Returns the total.
pub fn check_unzipped_total(
    sizes: impl IntoIterator<Item = u64>,
    limit: u64,
) -> Result<u64, OverUnzippedLimit> {
    let size = sizes
        .into_iter()
        .fold(0u64, |total, size| total.saturating_add(size));
    if size > limit {
        return Err(OverUnzippedLimit { size, limit });
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Up to the limit is allowed, one byte more is not; sizes declaring more than a u64
    /// holds are over it, not wrapped around to a small total (nor a panic).
    #[test]
    fn the_total_is_checked_inclusively_and_never_wraps() {
        let limit = lamina_context::facts::MAX_UNZIPPED_BYTES;
        assert_eq!(check_unzipped_total([limit - 1, 1], limit), Ok(limit));
        assert_eq!(check_unzipped_total([], limit), Ok(0));
        assert_eq!(
            check_unzipped_total([limit, 1], limit),
            Err(OverUnzippedLimit {
                size: limit + 1,
                limit
            })
        );
        assert_eq!(
            check_unzipped_total([u64::MAX, 2], limit),
            Err(OverUnzippedLimit {
                size: u64::MAX,
                limit
            })
        );
        insta::assert_snapshot!(
            check_unzipped_total([limit, 1], limit).unwrap_err(),
            @"Unzipped size must be smaller than 262144000 bytes: 262144001 bytes"
        );
    }
}
