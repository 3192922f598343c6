//! Each local header checked against its central directory record: the one reader's listing
//! comes from the central directory, while other unzip tools (and the zip reader's own data
//! offsets) go by the local headers. A zip where the two disagree would be checked as one
//! thing and run as another, so it is refused, by the listing and the unpacking alike.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::Path;

use crate::entry::stored_name;
use crate::error::{UnzipError, bad_zip, io_error};

/// A local file header's fixed part, before its name.
const LOCAL_FIXED: usize = 30;
/// A central directory record's fixed part, before its name.
const CENTRAL_FIXED: usize = 46;
/// A 32-bit size of `0xFFFF_FFFF` says the real one is in the zip64 extra field.
const ZIP64: u32 = u32::MAX;
/// General purpose flag bit 3: CRC and sizes follow the data, the local header has zeros.
const DATA_DESCRIPTOR: u16 = 1 << 3;

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// What differs between a local header (`local`, its fixed part and name) and its central
/// record (`central`, likewise), or `None` when they agree. Extra fields may differ (tools
/// write shorter ones in the central directory), so they are not compared.
pub(crate) fn difference(local: &[u8], central: &[u8]) -> Option<String> {
    if local.len() < LOCAL_FIXED || u32_at(local, 0) != 0x0403_4b50 {
        return Some("no local header where the central directory points".into());
    }
    let local_name = &local[LOCAL_FIXED..];
    let central_name = &central[CENTRAL_FIXED..];
    if local_name != central_name {
        return Some(format!(
            "the local header names it `{}`",
            String::from_utf8_lossy(local_name)
        ));
    }
    let (local_flags, central_flags) = (u16_at(local, 6), u16_at(central, 8));
    if local_flags & DATA_DESCRIPTOR != central_flags & DATA_DESCRIPTOR {
        return Some("its local header and central record disagree on a data descriptor".into());
    }
    let (local_method, central_method) = (u16_at(local, 8), u16_at(central, 10));
    if local_method != central_method {
        return Some(format!(
            "its local header says compression method {local_method}, its central record {central_method}"
        ));
    }
    // Behind a data descriptor the local header may hold zeros instead of the values.
    let deferred = local_flags & DATA_DESCRIPTOR != 0;
    let fields = [
        ("CRC-32", 14, 16),
        ("compressed size", 18, 20),
        ("uncompressed size", 22, 24),
    ];
    for (what, local_at, central_at) in fields {
        let (l, c) = (u32_at(local, local_at), u32_at(central, central_at));
        let zip64 = what != "CRC-32" && (l == ZIP64 || c == ZIP64);
        if l != c && !zip64 && !(deferred && l == 0) {
            return Some(format!(
                "its local header says {what} {l}, its central record {c}"
            ));
        }
    }
    None
}

/// Checks every entry's local header against its central record, and that no entry's data
/// runs into another entry's header.
pub(crate) fn verify(zip: &Path, archive: &mut zip::ZipArchive<File>) -> Result<(), UnzipError> {
    let mut file = File::open(zip).map_err(io_error(format!("opening {}", zip.display())))?;
    let read_at = |file: &mut File, at: u64, len: usize| -> Result<Vec<u8>, UnzipError> {
        let mut bytes = vec![0u8; len];
        file.seek(SeekFrom::Start(at))
            .and_then(|_| file.read_exact(&mut bytes))
            .map_err(io_error(format!(
                "reading the headers of {}",
                zip.display()
            )))?;
        Ok(bytes)
    };
    let mut ranges = Vec::with_capacity(archive.len());
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index).map_err(bad_zip(zip))?;
        let name = stored_name(&entry, index);
        let (local_at, central_at) = (entry.header_start(), entry.central_header_start());
        let data_end = entry
            .data_start()
            .unwrap_or(local_at)
            .saturating_add(entry.compressed_size());
        let name_len = entry.name_raw().len();
        drop(entry);
        let mut local = read_at(&mut file, local_at, LOCAL_FIXED)?;
        let local_name_len = if u32_at(&local, 0) == 0x0403_4b50 {
            usize::from(u16_at(&local, 26))
        } else {
            0
        };
        local.extend(read_at(
            &mut file,
            local_at + LOCAL_FIXED as u64,
            local_name_len,
        )?);
        let central = read_at(&mut file, central_at, CENTRAL_FIXED + name_len)?;
        if let Some(difference) = difference(&local, &central) {
            return Err(UnzipError::InconsistentHeaders {
                zip: zip.to_path_buf(),
                reason: format!("entry `{name}`: {difference}"),
            });
        }
        ranges.push((local_at, data_end, name, central_at));
    }
    // The central directory follows the last entry's data.
    let directory = ranges
        .iter()
        .map(|(_, _, _, central)| *central)
        .min()
        .unwrap_or(u64::MAX);
    ranges.push((directory, directory, String::new(), directory));
    ranges.sort();
    for pair in ranges.windows(2) {
        let ((_, end, first, _), (start, _, second, _)) = (&pair[0], &pair[1]);
        if end > start {
            let into = if second.is_empty() {
                "the central directory".to_string()
            } else {
                format!("the local header of entry `{second}`")
            };
            return Err(UnzipError::InconsistentHeaders {
                zip: zip.to_path_buf(),
                reason: format!("the data of entry `{first}` runs into {into}"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(name: &[u8], flags: u16, crc: u32, sizes: (u32, u32)) -> Vec<u8> {
        let mut bytes = vec![0u8; LOCAL_FIXED];
        bytes[0..4].copy_from_slice(&0x0403_4b50u32.to_le_bytes());
        bytes[6..8].copy_from_slice(&flags.to_le_bytes());
        bytes[8..10].copy_from_slice(&8u16.to_le_bytes());
        bytes[14..18].copy_from_slice(&crc.to_le_bytes());
        bytes[18..22].copy_from_slice(&sizes.0.to_le_bytes());
        bytes[22..26].copy_from_slice(&sizes.1.to_le_bytes());
        bytes.extend_from_slice(name);
        bytes
    }

    fn central(name: &[u8], flags: u16, crc: u32, sizes: (u32, u32)) -> Vec<u8> {
        let mut bytes = vec![0u8; CENTRAL_FIXED];
        bytes[0..4].copy_from_slice(&0x0201_4b50u32.to_le_bytes());
        bytes[8..10].copy_from_slice(&flags.to_le_bytes());
        bytes[10..12].copy_from_slice(&8u16.to_le_bytes());
        bytes[16..20].copy_from_slice(&crc.to_le_bytes());
        bytes[20..24].copy_from_slice(&sizes.0.to_le_bytes());
        bytes[24..28].copy_from_slice(&sizes.1.to_le_bytes());
        bytes.extend_from_slice(name);
        bytes
    }

    #[test]
    fn agreeing_headers_and_what_may_legitimately_differ() {
        let c = central(b"a", 0, 7, (10, 20));
        assert_eq!(difference(&local(b"a", 0, 7, (10, 20)), &c), None);
        // Behind a data descriptor, zeros in the local header.
        let c = central(b"a", DATA_DESCRIPTOR, 7, (10, 20));
        assert_eq!(
            difference(&local(b"a", DATA_DESCRIPTOR, 0, (0, 0)), &c),
            None
        );
        // Zip64: the sizes live in the extra field.
        let c = central(b"a", 0, 7, (ZIP64, ZIP64));
        assert_eq!(difference(&local(b"a", 0, 7, (ZIP64, ZIP64)), &c), None);
    }

    #[test]
    fn each_lie_is_named() {
        let c = central(b"a", 0, 7, (10, 20));
        let lies = [
            local(b"b", 0, 7, (10, 20)),
            local(b"a", DATA_DESCRIPTOR, 7, (10, 20)),
            local(b"a", 0, 8, (10, 20)),
            local(b"a", 0, 7, (11, 20)),
            local(b"a", 0, 7, (10, 21)),
            vec![0u8; 3],
        ];
        let found: Vec<String> = lies
            .iter()
            .map(|l| difference(l, &c).unwrap_or_default())
            .collect();
        assert_eq!(
            found,
            [
                "the local header names it `b`",
                "its local header and central record disagree on a data descriptor",
                "its local header says CRC-32 8, its central record 7",
                "its local header says compressed size 11, its central record 10",
                "its local header says uncompressed size 21, its central record 20",
                "no local header where the central directory points",
            ]
        );
    }
}
