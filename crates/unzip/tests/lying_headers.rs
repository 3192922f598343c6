//! A zip whose local headers lie about what the central directory lists: the listing (what
//! `cargo lamina check` reports on), unpacking every file (what the emulator runs) and
//! unpacking only ELF files (what the check's ELF pass does) refuse it alike, with one error.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use lamina_unzip::{Keep, Listing, MAX_UNZIPPED_BYTES, unpack};
use zip::write::SimpleFileOptions;

const NAME: &str = "notes.txt";

/// A function zip: a script `bootstrap` and a text file `notes.txt`.
fn honest_zip(path: &Path) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(fs::File::create(path).unwrap());
    let options = SimpleFileOptions::default().unix_permissions(0o755);
    writer.start_file("bootstrap", options).unwrap();
    writer
        .write_all(b"#!/bin/sh\nexec cat notes.txt\n")
        .unwrap();
    writer
        .start_file(NAME, SimpleFileOptions::default())
        .unwrap();
    writer
        .write_all("a note that deflates well; ".repeat(100).as_bytes())
        .unwrap();
    writer.finish().unwrap();
    fs::read(path).unwrap()
}

/// The offset of `notes.txt`'s local header.
fn local_header(bytes: &[u8]) -> usize {
    bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"PK\x03\x04")
        .map(|(at, _)| at)
        .find(|at| bytes[at + 30..].starts_with(NAME.as_bytes()))
        .unwrap()
}

/// Rewrites the local header at the given offset.
type Lie = fn(&mut Vec<u8>, usize);

fn is_elf(head: &[u8]) -> bool {
    head.starts_with(b"\x7fELF")
}

/// Each way the local header of `notes.txt` can lie, with what each reader says of it.
#[test]
fn the_listing_and_both_unpackings_refuse_lying_local_headers_alike() {
    let dir = tempfile::tempdir().unwrap();
    let lies: [(&str, Lie); 3] = [
        ("another name, of the same length", |bytes, at| {
            bytes[at + 30..at + 30 + 5].copy_from_slice(b"evil!");
        }),
        ("another uncompressed size", |bytes, at| {
            bytes[at + 22..at + 26].copy_from_slice(&7u32.to_le_bytes());
        }),
        // The data starts 2 bytes later than the central directory's reader expects:
        // unpacking every file inflates garbage, while a reader looking only at ELF heads
        // skipped the file and called the zip fine.
        (
            "a 2-byte extra field the central directory does not have",
            |bytes, at| {
                bytes[at + 28..at + 30].copy_from_slice(&2u16.to_le_bytes());
            },
        ),
    ];
    let mut report = Vec::new();
    for (lie, apply) in lies {
        let path = dir.path().join("function.zip");
        let mut bytes = honest_zip(&path);
        let at = local_header(&bytes);
        apply(&mut bytes, at);
        fs::write(&path, &bytes).unwrap();
        let verdicts: Vec<(&str, String)> = [
            (
                "listing",
                Listing::read(&path).map(|_| Vec::<PathBuf>::new()),
            ),
            ("unpacking every file", {
                let into = tempfile::tempdir().unwrap();
                unpack(&path, into.path(), Keep::All, MAX_UNZIPPED_BYTES)
            }),
            ("unpacking ELF files", {
                let into = tempfile::tempdir().unwrap();
                unpack(
                    &path,
                    into.path(),
                    Keep::FilesStartingWith(is_elf),
                    MAX_UNZIPPED_BYTES,
                )
            }),
        ]
        .into_iter()
        .map(|(reader, result)| {
            let verdict = match result {
                Ok(_) => "ok".to_string(),
                Err(err) => err
                    .to_string()
                    .replace(&*dir.path().to_string_lossy(), "$TMP"),
            };
            (reader, verdict)
        })
        .collect();
        let first = &verdicts[0].1;
        assert!(
            verdicts.iter().all(|(_, v)| v == first),
            "{lie}: the readers disagree: {verdicts:#?}"
        );
        report.push(format!("{lie}\n  {first}"));
    }
    insta::assert_snapshot!(report.join("\n\n"));
}

/// The honest zip passes every reader.
#[test]
fn the_honest_zip_is_read_by_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("function.zip");
    honest_zip(&path);
    assert_eq!(Listing::read(&path).unwrap().entries.len(), 2);
    let into = tempfile::tempdir().unwrap();
    let written = unpack(&path, into.path(), Keep::All, MAX_UNZIPPED_BYTES).unwrap();
    assert_eq!(written.len(), 2);
    assert_eq!(
        fs::read_to_string(into.path().join(NAME)).unwrap().len(),
        2700
    );
}
