//! Hostile zips unpacked by the one reader: whatever they hold, every host path outside the
//! folder they are unpacked into keeps its mode and content.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use lamina_unzip::{Keep, Listing, MAX_UNZIPPED_BYTES, UnzipError, check_unzipped_size, unpack};
use zip::write::SimpleFileOptions;

enum Entry<'a> {
    File(&'a str, u32, &'a [u8]),
    Dir(&'a str, u32),
    Link(&'a str, &'a str),
}

fn write_zip(path: &Path, entries: &[Entry]) -> PathBuf {
    let mut writer = zip::ZipWriter::new(fs::File::create(path).unwrap());
    for entry in entries {
        match entry {
            Entry::File(name, mode, bytes) => {
                let options = SimpleFileOptions::default().unix_permissions(*mode);
                writer.start_file(*name, options).unwrap();
                writer.write_all(bytes).unwrap();
            }
            Entry::Dir(name, mode) => {
                let options = SimpleFileOptions::default().unix_permissions(*mode);
                writer.add_directory(*name, options).unwrap();
            }
            Entry::Link(name, target) => {
                writer
                    .add_symlink(*name, *target, SimpleFileOptions::default())
                    .unwrap();
            }
        }
    }
    writer.finish().unwrap();
    path.to_path_buf()
}

/// Every path under `dir` (and `dir` itself) with its mode and, for files, its content.
fn state(dir: &Path) -> BTreeMap<PathBuf, (u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = fs::symlink_metadata(&path).unwrap();
        let content = if meta.is_file() {
            fs::read(&path).unwrap()
        } else {
            Vec::new()
        };
        if meta.is_dir() {
            for child in fs::read_dir(&path).unwrap() {
                stack.push(child.unwrap().path());
            }
        }
        out.insert(path, (meta.permissions().mode(), content));
    }
    out
}

/// A host folder (mode 0755) with a file (0644) in it: what a hostile zip aims at.
fn host_victim(dir: &Path) -> PathBuf {
    let host = dir.join("host");
    fs::create_dir(&host).unwrap();
    fs::write(host.join("victim"), "host data\n").unwrap();
    fs::set_permissions(&host, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(host.join("victim"), fs::Permissions::from_mode(0o644)).unwrap();
    host
}

fn outcome(dir: &Path, result: Result<Vec<PathBuf>, UnzipError>) -> String {
    let text = match result {
        Ok(files) => format!(
            "ok: {}",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Err(err) => err.to_string(),
    };
    text.replace(&*dir.to_string_lossy(), "[dir]")
}

/// Each zip aims at `host` (or above `into`); all are refused or neutralised, and the host
/// is byte for byte and mode for mode what it was.
#[test]
fn hostile_zips_leave_the_host_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let host = host_victim(dir.path());
    let host_str = host.to_str().unwrap().to_string();
    let victim_str = host.join("victim").to_str().unwrap().to_string();
    let host_folder = format!("{host_str}/");
    let before = state(dir.path());
    let bootstrap: &[u8] = b"#!/bin/sh\n";
    let cases: Vec<(&str, Vec<Entry>)> = vec![
        (
            "link then folder 0777",
            vec![
                Entry::File("bootstrap", 0o755, bootstrap),
                Entry::Link("evil", &host_str),
                // `evix` is renamed `evil` below: the zip writer refuses a second `evil`, a
                // crafted zip does not.
                Entry::Dir("evix/", 0o777),
            ],
        ),
        (
            "file through a link",
            vec![
                Entry::Link("evil", &host_str),
                Entry::File("evil/victim", 0o777, b"owned\n"),
            ],
        ),
        (
            "file through a link, deeper",
            vec![
                Entry::Dir("a/", 0o755),
                Entry::Link("a/b", &host_str),
                Entry::File("a/b/c/new", 0o644, b"owned\n"),
            ],
        ),
        (
            "file replacing a link to a host file",
            vec![
                Entry::Link("evil", &victim_str),
                Entry::File("evix", 0o777, b"owned\n"),
            ],
        ),
        (
            "zip slip",
            vec![Entry::File("../host/victim", 0o777, b"owned\n")],
        ),
        (
            "zip slip through a folder",
            vec![Entry::File("a/../../host/victim", 0o777, b"owned\n")],
        ),
        (
            "absolute path",
            vec![Entry::File(&victim_str, 0o777, b"owned\n")],
        ),
        ("absolute folder", vec![Entry::Dir(&host_folder, 0o777)]),
    ];
    let mut report = String::new();
    for (index, (what, entries)) in cases.iter().enumerate() {
        let zip = write_zip(&dir.path().join(format!("case{index}.zip")), entries);
        let bytes = fs::read(&zip).unwrap();
        let renamed = String::from_utf8_lossy(&bytes).contains("evix");
        if renamed {
            let mut bytes = bytes;
            while let Some(at) = bytes.windows(4).position(|w| w == b"evix") {
                bytes[at + 3] = b'l';
            }
            fs::write(&zip, bytes).unwrap();
        }
        let into = dir.path().join(format!("into{index}"));
        fs::create_dir(&into).unwrap();
        let result = unpack(&zip, &into, Keep::All, MAX_UNZIPPED_BYTES);
        report.push_str(&format!("{what}: {}\n", outcome(dir.path(), result)));
        let after: BTreeMap<_, _> = state(dir.path())
            .into_iter()
            .filter(|(p, _)| p.starts_with(&host))
            .collect();
        let expected: BTreeMap<_, _> = before
            .clone()
            .into_iter()
            .filter(|(p, _)| p.starts_with(&host))
            .collect();
        assert_eq!(after, expected, "{what}: the host folder changed");
    }
    insta::assert_snapshot!("hostile", report);
}

/// Layers unpack into one /opt: a link from the first must not carry the second's files
/// (or folder modes) out of it.
#[test]
fn a_link_from_an_earlier_layer_is_not_followed_by_a_later_one() {
    let dir = tempfile::tempdir().unwrap();
    let host = host_victim(dir.path());
    let before = state(&host);
    let first = write_zip(
        &dir.path().join("first.zip"),
        &[Entry::Link("lib", host.to_str().unwrap())],
    );
    let second = write_zip(
        &dir.path().join("second.zip"),
        &[
            Entry::Dir("lib/", 0o777),
            Entry::File("lib/victim", 0o777, b"owned\n"),
        ],
    );
    let opt = dir.path().join("opt");
    fs::create_dir(&opt).unwrap();
    unpack(&first, &opt, Keep::All, MAX_UNZIPPED_BYTES).unwrap();
    let error = unpack(&second, &opt, Keep::All, MAX_UNZIPPED_BYTES).unwrap_err();
    assert!(
        matches!(error, UnzipError::ThroughSymlink { ref link, .. } if link == "lib"),
        "{error}"
    );
    assert_eq!(state(&host), before);
}

/// A zip's entry whose header declares fewer bytes than it inflates to: unpacking stops at
/// the declared size and refuses it.
#[test]
fn an_entry_lying_about_its_size_is_cut_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let zip = write_zip(
        &dir.path().join("bomb.zip"),
        &[Entry::File("data", 0o644, &vec![0u8; 1 << 20])],
    );
    set_declared_size(&zip, 1000);
    let listing = Listing::read(&zip).unwrap();
    assert_eq!(listing.unzipped_size(), 1000);
    let into = dir.path().join("into");
    fs::create_dir(&into).unwrap();
    let error = unpack(&zip, &into, Keep::All, MAX_UNZIPPED_BYTES).unwrap_err();
    insta::assert_snapshot!("lying", outcome(dir.path(), Err(error)));
    let written = fs::metadata(into.join("data"))
        .map(|m| m.len())
        .unwrap_or(0);
    assert!(
        written <= 1000,
        "{written} bytes written past the declared 1000"
    );
}

/// The limit is checked on the headers of the function and its layers together, before
/// anything is written, with Lambda's wording.
#[test]
fn zips_declaring_more_than_lambdas_limit_are_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let function = write_zip(
        &dir.path().join("function.zip"),
        &[Entry::File("bootstrap", 0o755, b"#!/bin/sh\n")],
    );
    let layer = write_zip(
        &dir.path().join("layer.zip"),
        &[Entry::File("big", 0o644, b"small really")],
    );
    set_declared_size(&function, 200_000_000);
    set_declared_size(&layer, 62_144_001);
    let listings = [
        Listing::read(&function).unwrap(),
        Listing::read(&layer).unwrap(),
    ];
    let error = check_unzipped_size(&[&listings[0], &listings[1]], MAX_UNZIPPED_BYTES).unwrap_err();
    insta::assert_snapshot!("too_large", outcome(dir.path(), Err(error)));
    assert_eq!(
        check_unzipped_size(&[&listings[0]], MAX_UNZIPPED_BYTES).unwrap(),
        200_000_000
    );
    let into = dir.path().join("into");
    fs::create_dir(&into).unwrap();
    let error = unpack(&function, &into, Keep::All, 100).unwrap_err();
    assert!(matches!(error, UnzipError::TooLarge { .. }), "{error}");
    assert_eq!(
        fs::read_dir(&into).unwrap().count(),
        0,
        "something was written"
    );
}

/// Heads are streamed: the listing holds the first bytes of each file and no more.
#[test]
fn heads_are_the_first_bytes_only() {
    let dir = tempfile::tempdir().unwrap();
    let zip = write_zip(
        &dir.path().join("z.zip"),
        &[
            Entry::Dir("bin/", 0o755),
            Entry::File(
                "bin/tool",
                0o755,
                &[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 9, 9],
            ),
        ],
    );
    let listing = Listing::read_with_heads(&zip, 4).unwrap();
    assert_eq!(listing.entries[1].head, b"\x7fELF");
    assert_eq!(listing.entries[1].size, 10);
    assert!(listing.entries[0].head.is_empty());
}

/// Rewrites the uncompressed size of every entry of a one-entry zip, in its local header
/// and its central directory record.
fn set_declared_size(zip: &Path, size: u32) {
    let mut bytes = fs::read(zip).unwrap();
    let local = find(&bytes, b"PK\x03\x04");
    bytes[local + 22..local + 26].copy_from_slice(&size.to_le_bytes());
    let central = find(&bytes, b"PK\x01\x02");
    bytes[central + 24..central + 28].copy_from_slice(&size.to_le_bytes());
    fs::write(zip, bytes).unwrap();
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
}
