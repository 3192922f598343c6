//! The zip writer's promises, checked on the bytes it writes.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;
use lamina_layer_builder::{BuildOptions, Mode, SourceDateEpoch, Status, build, zip_sha256};

/// The fixed tree's zip at the default epoch. Changes only when the writer's
/// output changes on purpose (or zlib-rs is upgraded in Cargo.lock).
const GOLDEN_SHA256: &str = "263e5a99e3c3d31c5b398a8b92fb5806d8bdd4732ca0bee06477fd31f7569487";

#[test]
fn fixed_tree_has_golden_sha256_and_listing() {
    let dir = tempfile::tempdir().unwrap();
    let src = write_fixture(dir.path());
    let zip = dir.path().join("out/fixture.zip");
    let built = build_fixture(&src, &zip);
    assert_eq!(built.status, Status::Written);
    assert_eq!(zip_sha256(&zip).unwrap(), GOLDEN_SHA256);
    assert_eq!(built.manifest.zip_sha256, GOLDEN_SHA256);

    let bytes = fs::read(&zip).unwrap();
    let entries = parse_zip(&bytes);
    let listing: String = entries
        .iter()
        .map(|e| {
            format!(
                "{:<22} {:06o} {:>6} {}\n",
                e.name,
                e.external_attributes >> 16,
                e.uncompressed_size,
                if e.method == 8 { "deflated" } else { "stored" }
            )
        })
        .collect();
    insta::assert_snapshot!(listing);
}

#[test]
fn bytes_follow_the_reproducibility_rules() {
    let dir = tempfile::tempdir().unwrap();
    let src = write_fixture(dir.path());
    let zip = dir.path().join("fixture.zip");
    // 2024-02-29T13:14:15Z: written as 13:14:14 (DOS time has 2 s steps).
    let options = BuildOptions {
        epoch: SourceDateEpoch::new(1_709_212_455).unwrap(),
        ..Default::default()
    };
    build(
        &fixture_tree(&src),
        &artifact(),
        &zip,
        &options,
        Mode::Write,
    )
    .unwrap();
    let entries = parse_zip(&fs::read(&zip).unwrap());

    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    assert_eq!(names, sorted, "entries sorted bytewise");
    assert!(
        names.iter().all(|n| !n.starts_with('/')),
        "no absolute names"
    );

    let dos_date = ((2024 - 1980) << 9) | (2 << 5) | 29;
    let dos_time = (13 << 11) | (14 << 5) | (14 / 2);
    for entry in &entries {
        assert_eq!(entry.made_by >> 8, 3, "{}: made by Unix", entry.name);
        assert_eq!(
            entry.central_extra_len, 0,
            "{}: no extra field in the central header",
            entry.name
        );
        assert_eq!(
            entry.local_extra_len, 0,
            "{}: no extra field in the local header",
            entry.name
        );
        assert_eq!(entry.comment_len, 0, "{}: no comment", entry.name);
        assert_eq!(
            (entry.dos_date, entry.dos_time),
            (dos_date, dos_time),
            "{}: one timestamp",
            entry.name
        );
        assert_eq!(entry.flags & 0x8, 0, "{}: no data descriptor", entry.name);
        let mode = entry.external_attributes >> 16;
        let expected = if entry.name.ends_with('/') {
            0o040755
        } else if entry.name == "lib/libdemo.so" {
            0o120777
        } else if entry.name == "bootstrap" || entry.name == "bin/tool" {
            0o100755
        } else {
            0o100644
        };
        assert_eq!(mode, expected, "{}: mode", entry.name);
        let expected_method = if entry.name.ends_with('/') || mode == 0o120777 {
            0
        } else {
            8
        };
        assert_eq!(
            entry.method, expected_method,
            "{}: compression method",
            entry.name
        );
    }
}

#[test]
fn same_content_from_another_folder_umask_and_time_gives_same_bytes() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let src_a = write_fixture(first.path());
    let src_b = write_fixture(&second.path().join("deeper/elsewhere"));
    // Different permission bits that normalise the same, different mtimes.
    fs::set_permissions(src_b.join("bin/tool"), fs::Permissions::from_mode(0o711)).unwrap();
    fs::set_permissions(src_b.join("share/a.txt"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::File::options()
        .append(true)
        .open(src_b.join("share/big.txt"))
        .unwrap()
        .set_modified(std::time::SystemTime::UNIX_EPOCH)
        .unwrap();
    let zip_a = first.path().join("a.zip");
    let zip_b = second.path().join("b.zip");
    build_fixture(&src_a, &zip_a);
    build_fixture(&src_b, &zip_b);
    assert_eq!(fs::read(&zip_a).unwrap(), fs::read(&zip_b).unwrap());
}

#[test]
fn python_zipfile_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let src = write_fixture(dir.path());
    let zip = dir.path().join("fixture.zip");
    build_fixture(&src, &zip);
    let script = r##"
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    bad = z.testzip()
    assert bad is None, bad
    for info in z.infolist():
        print(info.filename, oct(info.external_attr >> 16), info.file_size, info.date_time)
    assert z.read("bin/tool") == b"#!/bin/sh\necho tool\n"
    assert z.read("lib/libdemo.so") == b"libdemo.so.1"
"##;
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(&zip)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "python zipfile failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("bootstrap 0o100755 24 (1980, 1, 1, 0, 0, 0)"),
        "{stdout}"
    );
    assert!(stdout.contains("lib/libdemo.so 0o120777 12"), "{stdout}");
}

#[test]
fn unzip_tests_it_and_extracts_modes_and_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let src = write_fixture(dir.path());
    let zip = dir.path().join("fixture.zip");
    build_fixture(&src, &zip);
    let test = Command::new("unzip")
        .arg("-t")
        .arg(&zip)
        .output()
        .expect("unzip runs");
    let stdout = String::from_utf8_lossy(&test.stdout);
    assert!(test.status.success(), "unzip -t failed: {stdout}");
    assert!(stdout.contains("No errors detected"), "{stdout}");

    let out = dir.path().join("extracted");
    let extract = Command::new("unzip")
        .arg("-q")
        .arg(&zip)
        .arg("-d")
        .arg(&out)
        .output()
        .expect("unzip runs");
    assert!(
        extract.status.success(),
        "{}",
        String::from_utf8_lossy(&extract.stderr)
    );
    let mode = |p: &str| {
        fs::symlink_metadata(out.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("bootstrap"), 0o755);
    assert_eq!(mode("bin/tool"), 0o755);
    assert_eq!(mode("lib/libdemo.so.1"), 0o644);
    assert_eq!(
        fs::read_link(out.join("lib/libdemo.so")).unwrap().to_str(),
        Some("libdemo.so.1")
    );
    assert!(out.join("etc/empty").is_dir());
}
