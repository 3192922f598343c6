//! Corrupt and truncated ELF files: a clear error, never a panic. A deterministic mutation
//! sweep (every truncation, every bit flip, hostile header and table values) over small
//! fixture files and a small real program, plus the saved fuzzing regressions.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::Path;

use common::{AARCH64, Fixture, X86_64};
use lamina_elf::{Arch, ElfError, ElfInfo, GlibcVersion, check, set_rpath};

/// Everything a caller may do with untrusted bytes; panics propagate to the test.
fn exercise(bytes: &[u8]) {
    if let Ok(info) = ElfInfo::parse(bytes) {
        let _ = check(Path::new("x"), &info, Arch::Aarch64, GlibcVersion::AL2023);
        let _ = info.newest_glibc();
        let mut copy = bytes.to_vec();
        if set_rpath(&mut copy, "/opt/lib").is_ok() {
            let edited = ElfInfo::parse(&copy).expect("an edited file still parses");
            assert_eq!(edited.rpath, ["/opt/lib"]);
        }
    }
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "arm64 program".to_owned(),
            Fixture::program(AARCH64)
                .runpath("$ORIGIN/../lib")
                .needs(&["libfoo.so.1", "libc.so.6"])
                .needs_version("libc.so.6", "GLIBC_2.17", &["malloc"])
                .needs_version("libc.so.6", "GLIBC_2.38", &["strlcpy"])
                .build(),
        ),
        (
            "x86_64 library".to_owned(),
            Fixture::library(X86_64, "libx.so.1")
                .rpath("/usr/lib/x")
                .needs(&["libc.so.6"])
                .build(),
        ),
        (
            "32-bit library".to_owned(),
            Fixture {
                is_64: false,
                ..Fixture::library(3, "libold.so.1")
                    .needs(&["libc.so.6"])
                    .needs_version("libc.so.6", "GLIBC_2.0", &["puts"])
            }
            .build(),
        ),
    ]
}

#[test]
fn every_truncation_is_an_error_or_a_parse() {
    for (name, seed) in seeds() {
        for length in 0..seed.len() {
            let truncated = &seed[..length];
            exercise(truncated);
            // The header alone is never enough once the dynamic section is cut off.
            if length < 64 {
                assert!(
                    ElfInfo::parse(truncated).is_err(),
                    "{name}: {length} bytes parsed"
                );
            }
        }
        assert!(ElfInfo::parse(&seed).is_ok(), "{name}");
    }
}

#[test]
fn every_single_bit_flip_is_survived() {
    let mut variants = 0;
    for (_, seed) in seeds() {
        let mut bytes = seed.clone();
        for index in 0..bytes.len() {
            for bit in 0..8 {
                bytes[index] ^= 1 << bit;
                exercise(&bytes);
                bytes[index] ^= 1 << bit;
                variants += 1;
            }
        }
    }
    assert!(variants > 10_000, "{variants}");
}

#[test]
fn hostile_words_everywhere_are_survived() {
    // Overwrite each aligned 4- and 8-byte word with values that break offsets and counts.
    let hostile: [u64; 6] = [
        0,
        1,
        0x7fff_ffff,
        0xffff_ffff,
        u64::MAX,
        0x8000_0000_0000_0000,
    ];
    for (_, seed) in seeds() {
        for width in [2usize, 4, 8] {
            for offset in (0..seed.len().saturating_sub(width)).step_by(width) {
                for value in hostile {
                    let mut bytes = seed.clone();
                    bytes[offset..offset + width].copy_from_slice(&value.to_le_bytes()[..width]);
                    exercise(&bytes);
                }
            }
        }
    }
}

#[test]
fn a_small_real_program_survives_truncation_and_header_damage() {
    let real = std::fs::read("/usr/bin/true").unwrap();
    assert!(ElfInfo::parse(&real).is_ok());
    // Every length through the headers, program headers and dynamic section area, then a
    // stride through the rest.
    for length in (0..4096.min(real.len())).chain((4096..real.len()).step_by(97)) {
        exercise(&real[..length]);
    }
    for index in 0..64 {
        for value in [0u8, 0xff, 0x80, 0x7f] {
            let mut bytes = real.clone();
            bytes[index] = value;
            exercise(&bytes);
        }
    }
}

#[test]
fn errors_say_what_is_wrong() {
    assert_eq!(ElfInfo::parse(b""), Err(ElfError::NotElf));
    assert_eq!(
        ElfInfo::parse(b"#!/bin/sh\necho hi\n"),
        Err(ElfError::NotElf)
    );
    let mut bytes = Fixture::program(AARCH64).needs(&["libc.so.6"]).build();
    bytes[4] = 7;
    assert_eq!(
        ElfInfo::parse(&bytes).unwrap_err().to_string(),
        "malformed ELF file: unknown ELF class 7 in e_ident (expected 1 for 32-bit or 2 for 64-bit)"
    );
    let bytes = Fixture::program(AARCH64).needs(&["libc.so.6"]).build();
    // Cut inside the dynamic string table.
    let err = ElfInfo::parse(&bytes[..300]).unwrap_err();
    assert!(matches!(err, ElfError::Malformed(_)), "{err}");
    insta::assert_snapshot!("truncated_error", err.to_string());
}

#[test]
fn saved_regressions_are_survived_with_clear_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz-regressions");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_none_or(|e| e != "md"))
        .collect();
    paths.sort();
    assert!(
        !paths.is_empty(),
        "no regression inputs in {}",
        dir.display()
    );
    let mut report = String::new();
    for path in &paths {
        let bytes = std::fs::read(path).unwrap();
        exercise(&bytes);
        let outcome = match ElfInfo::parse(&bytes) {
            Ok(info) => format!("parsed: needs {:?}", info.needed),
            Err(err) => err.to_string(),
        };
        let rpath = match set_rpath(&mut bytes.clone(), "/opt/lib") {
            Ok(edit) => format!("set to /opt/lib (was {:?})", edit.previous),
            Err(err) => err.to_string(),
        };
        report.push_str(&format!(
            "{}:\n  parse: {outcome}\n  set_rpath: {rpath}\n",
            path.file_name().unwrap().to_string_lossy()
        ));
    }
    insta::assert_snapshot!("regressions", report);
}

/// Writes the seed fixtures to `$LAMINA_ELF_SEED_DIR` (for the fuzzer's corpus):
/// `LAMINA_ELF_SEED_DIR=fuzz/corpus/parse cargo test -p lamina-elf --test corrupt -- --ignored`
#[test]
#[ignore = "writes files; run by hand to seed the fuzzer"]
fn write_seed_files() {
    let dir = std::env::var("LAMINA_ELF_SEED_DIR").unwrap();
    for (name, bytes) in seeds() {
        std::fs::write(Path::new(&dir).join(name.replace(' ', "-")), bytes).unwrap();
    }
}
