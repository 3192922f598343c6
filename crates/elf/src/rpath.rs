//! Making a bundled library win over the system copy: an in-place `DT_RPATH` edit.
//!
//! On Lambda, `LD_LIBRARY_PATH` is `/lib64:...:/opt/lib`, so a layer's `/opt/lib/libfoo.so.1`
//! loses to `/lib64/libfoo.so.1`. The loader searches, in order: the `DT_RPATH` of the
//! needing object and of every object that loaded it up to the program (only for objects
//! without `DT_RUNPATH`), then `LD_LIBRARY_PATH`, then `DT_RUNPATH`. So only a **`DT_RPATH`**
//! (not `DT_RUNPATH`) of `/opt/lib` beats the system copy, and setting it on the program is
//! enough for everything the program loads, unless a library in between has a `DT_RUNPATH`.
//!
//! [`set_rpath`] does this without moving anything in the file: it reuses the string of an
//! existing `DT_RPATH`/`DT_RUNPATH` entry when that string is at least as long as the new
//! value (padding with NULs) and turns the entry into `DT_RPATH`. Adding a string to a
//! file that has none needs the dynamic string table to grow, which means moving sections
//! and segments (what `patchelf` does); this crate does not do that, and says so with
//! [`RpathError::NoRoom`]. The alternatives then are:
//!
//! - run `patchelf --force-rpath --set-rpath /opt/lib FILE` (Debian package `patchelf`;
//!   `--force-rpath` writes `DT_RPATH`, not `DT_RUNPATH`) on the copy in the layer;
//! - have the bootstrap start the program with `/opt/lib` first on `LD_LIBRARY_PATH`
//!   (`LD_LIBRARY_PATH=/opt/lib:$LD_LIBRARY_PATH`), which affects that process and its
//!   children only;
//! - drop the bundled copy and use the system library.

use object::elf;

use crate::info::ElfError;
use crate::parse::{DynamicLayout, parse_layout};

/// What [`set_rpath`] changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpathEdit {
    /// The search path the file had before (`DT_RPATH` or `DT_RUNPATH`, as written).
    pub previous: String,
    /// True when a `DT_RUNPATH` entry was turned into `DT_RPATH`.
    pub converted_runpath: bool,
}

/// Why [`set_rpath`] could not edit the file in place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpathError {
    /// The bytes are not a readable ELF file.
    #[error(transparent)]
    Elf(#[from] ElfError),
    /// The file is statically linked: it loads no libraries, nothing to set.
    #[error("the file is statically linked (no PT_DYNAMIC): it loads no shared libraries")]
    NotDynamic,
    /// There is no search-path string long enough to hold the new value. The message says
    /// what to do instead.
    #[error(
        "cannot set DT_RPATH to {wanted:?} in place: {reason}. Alternatives: run `patchelf \
         --force-rpath --set-rpath {wanted} FILE` on the copy in the layer (Debian package \
         patchelf), or start the program with /opt/lib first on LD_LIBRARY_PATH"
    )]
    NoRoom {
        /// The value asked for.
        wanted: String,
        /// Why it does not fit.
        reason: String,
    },
    /// The value contains a NUL byte.
    #[error("a search path cannot contain a NUL byte: {0:?}")]
    InvalidValue(String),
}

/// Sets the file's library search path to `value` (e.g. `/opt/lib` or `$ORIGIN/../lib`)
/// as a `DT_RPATH`, in place, without changing the file's size or layout. Works when the
/// file already has a `DT_RPATH` or `DT_RUNPATH` whose string is at least as long as
/// `value` and not shared with another name; otherwise returns [`RpathError::NoRoom`],
/// whose message names the alternatives. On error the bytes are unchanged.
pub fn set_rpath(data: &mut [u8], value: &str) -> Result<RpathEdit, RpathError> {
    if value.contains('\0') {
        return Err(RpathError::InvalidValue(value.to_owned()));
    }
    let (info, layout) = parse_layout(data)?;
    let layout = layout.ok_or(RpathError::NotDynamic)?;
    let no_room = |reason: String| RpathError::NoRoom {
        wanted: value.to_owned(),
        reason,
    };

    // A malformed file whose dynamic entries lie inside its string table: rewriting an
    // entry would change strings, and rewriting a string could change entries.
    let strtab_range = layout.strtab_offset..layout.strtab_offset + layout.strtab_size;
    if let Some(dynamic) = layout.protected.last()
        && dynamic.start < strtab_range.end
        && strtab_range.start < dynamic.end
    {
        return Err(no_room(format!(
            "the dynamic entries (file bytes {}..{}) overlap the dynamic string table (bytes \
             {}..{}): the file is malformed",
            dynamic.start, dynamic.end, strtab_range.start, strtab_range.end
        )));
    }

    // Indexes (into the dynamic entries) of the search-path entries.
    let path_entries: Vec<usize> = layout
        .entries
        .iter()
        .enumerate()
        .filter(|(_, (tag, _))| *tag == elf::DT_RPATH.0 || *tag == elf::DT_RUNPATH.0)
        .map(|(i, _)| i)
        .collect();
    if path_entries.is_empty() {
        return Err(no_room(
            "the file has no DT_RPATH or DT_RUNPATH entry whose string could be reused".to_owned(),
        ));
    }

    if !layout.symbol_names_known {
        return Err(no_room(
            "the file has dynamic symbols but no section headers to list their names, so it \
             cannot be told whether one of them shares the search path's string"
                .to_owned(),
        ));
    }

    // Pick the entry with the longest string that no other name shares.
    let mut best: Option<(usize, usize, usize)> = None; // (entry, string offset, length)
    let mut reasons = Vec::new();
    for &index in &path_entries {
        let offset = layout.entries[index].1 as usize;
        let strtab = &data[layout.strtab_offset..layout.strtab_offset + layout.strtab_size];
        let Some(length) = slot_capacity(strtab, offset) else {
            continue;
        };
        let shared = shares_string(&layout, strtab, index, offset, length);
        if shared {
            reasons.push(format!(
                "the string at offset {offset} is shared with another name in the file"
            ));
            continue;
        }
        if best.is_none_or(|(_, _, best_length)| length > best_length) {
            best = Some((index, offset, length));
        }
    }
    let Some((chosen, offset, length)) = best else {
        return Err(no_room(reasons.join("; ")));
    };
    let start = layout.strtab_offset + offset;
    let slot = start..start + length + 1;
    if let Some(overlap) = layout
        .protected
        .iter()
        .find(|r| r.start < slot.end && slot.start < r.end)
    {
        return Err(no_room(format!(
            "the search path string (file bytes {}..{}) overlaps the file's headers or \
             dynamic entries (bytes {}..{}): the file is malformed",
            slot.start, slot.end, overlap.start, overlap.end
        )));
    }
    if value.len() > length {
        return Err(no_room(format!(
            "the existing search path string has room for {length} bytes, the new value \
             needs {}",
            value.len()
        )));
    }

    let previous = if layout.entries[chosen].0 == elf::DT_RUNPATH.0 {
        info.runpath.join(":")
    } else {
        info.rpath.join(":")
    };
    let converted_runpath = path_entries
        .iter()
        .any(|&i| layout.entries[i].0 == elf::DT_RUNPATH.0);

    // Write the string, NUL-padded to its old length.
    data[start..start + value.len()].copy_from_slice(value.as_bytes());
    data[start + value.len()..start + length].fill(0);

    // Every search-path entry becomes DT_RPATH pointing at the new string: a DT_RUNPATH
    // left anywhere would make the loader ignore DT_RPATH.
    let little_endian = info.little_endian;
    for &index in &path_entries {
        let entry = layout.dynamic_offset + index * layout.entry_size;
        let half = layout.entry_size / 2;
        write_word(
            &mut data[entry..entry + half],
            elf::DT_RPATH.0 as u64,
            little_endian,
        );
        write_word(
            &mut data[entry + half..entry + layout.entry_size],
            offset as u64,
            little_endian,
        );
    }
    Ok(RpathEdit {
        previous,
        converted_runpath,
    })
}

/// How many bytes a string at `offset` may take: its own length plus the NUL padding that
/// follows it (left by an earlier, longer value), keeping one NUL as terminator.
fn slot_capacity(strtab: &[u8], offset: usize) -> Option<usize> {
    let rest = strtab.get(offset..)?;
    let first_nul = rest.iter().position(|&b| b == 0)?;
    let padding = rest[first_nul..].iter().take_while(|&&b| b == 0).count();
    Some(first_nul + padding - 1)
}

/// True when some other dynamic string reference overlaps the `length` bytes of the
/// string at `offset`: linkers merge string tails, so `"lib"` may live inside `"/opt/lib"`,
/// and our string may itself be the tail of a longer one.
fn shares_string(
    layout: &DynamicLayout,
    strtab: &[u8],
    own_entry: usize,
    offset: usize,
    length: usize,
) -> bool {
    let inside = |reference: u64| {
        let Ok(reference) = usize::try_from(reference) else {
            return false;
        };
        if reference >= offset {
            reference <= offset + length
        } else {
            // A string starting before ours runs into it when no NUL ends it first.
            strtab
                .get(reference..offset)
                .is_some_and(|between| !between.contains(&0))
        }
    };
    let string_tags = [
        elf::DT_NEEDED.0,
        elf::DT_SONAME.0,
        elf::DT_RPATH.0,
        elf::DT_RUNPATH.0,
        elf::DT_AUXILIARY.0,
        elf::DT_FILTER.0,
    ];
    let other_entries = layout
        .entries
        .iter()
        .enumerate()
        .filter(|(i, (tag, value))| {
            *i != own_entry
                && string_tags.contains(tag)
                // Another search-path entry pointing at the very same string is fine:
                // it is rewritten too.
                && !((*tag == elf::DT_RPATH.0 || *tag == elf::DT_RUNPATH.0)
                    && *value as usize == offset)
        })
        .any(|(_, (_, value))| inside(*value));
    other_entries || layout.other_string_refs.iter().any(|&r| inside(r))
}

fn write_word(out: &mut [u8], value: u64, little_endian: bool) {
    let bytes = if little_endian {
        value.to_le_bytes()
    } else {
        value.to_be_bytes()
    };
    if out.len() == 8 {
        out.copy_from_slice(&bytes);
    } else if little_endian {
        out.copy_from_slice(&bytes[..out.len()]);
    } else {
        out.copy_from_slice(&bytes[8 - out.len()..]);
    }
}
