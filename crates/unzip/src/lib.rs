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
//! - [`check_unzipped_total`] is the one check of Lambda's 262,144,000-byte limit on a
//!   function and its layers unzipped (sizes added up saturating), used by the layer
//!   builder and `cargo lamina check` too; [`check_unzipped_size`] applies it to zips with
//!   Lambda's wording, before a byte is written;
//! - [`unpack`] writes a zip into a folder without ever following a symbolic link: every
//!   folder, file and link is opened or created relative to its parent folder's descriptor
//!   with `O_NOFOLLOW`, and modes are set on the opened descriptor (`fchmod`), so a link
//!   planted by an earlier entry (or an earlier layer) can never redirect a write or a
//!   `chmod` to the host. An entry that inflates past the size its header declares is cut
//!   there and refused (a zip bomb lying in its headers).

#![cfg_attr(test, allow(clippy::unwrap_used))] // Tests fail loudly on purpose.

mod entry;
mod error;
mod headers;
mod listing;
mod unpack;

pub use entry::EntryKind;
pub use error::UnzipError;
pub use listing::{
    ListedEntry, Listing, OverUnzippedLimit, check_unzipped_size, check_unzipped_total,
};
pub use unpack::{Keep, unpack};

/// Lambda's limit on a function and all its layers, unzipped: 262,144,000 bytes.
pub const MAX_UNZIPPED_BYTES: u64 = lamina_context::facts::MAX_UNZIPPED_BYTES;
