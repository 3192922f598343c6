//! Helpers shared by the integration tests: a fixed tree and a raw zip parser.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use lamina_layer_builder::{
    Architecture, Artifact, ArtifactKind, BuildOptions, Built, FileMode, Mode, Tree, build,
};

/// Writes the fixed source folder under `root` (modes deliberately odd, to
/// show normalisation) and returns it.
pub fn write_fixture(root: &Path) -> PathBuf {
    let src = root.join("src");
    fs::create_dir_all(src.join("bin")).unwrap();
    fs::create_dir_all(src.join("lib")).unwrap();
    fs::create_dir_all(src.join("share/a")).unwrap();
    fs::create_dir_all(src.join("etc/empty")).unwrap();
    write(&src.join("bin/tool"), b"#!/bin/sh\necho tool\n", 0o700);
    write(
        &src.join("lib/libdemo.so.1"),
        b"\x7fELF not really\n",
        0o600,
    );
    symlink("libdemo.so.1", src.join("lib/libdemo.so")).unwrap();
    write(
        &src.join("share/a.txt"),
        b"sorted before the folder a/\n",
        0o664,
    );
    write(&src.join("share/a/b.txt"), b"inside a/\n", 0o640);
    // Compressible content, so deflate has work to do.
    let big: String = (0..4000)
        .map(|i| format!("line {i} of a compressible file\n"))
        .collect();
    write(&src.join("share/big.txt"), big.as_bytes(), 0o644);
    src
}

pub fn write(path: &Path, content: &[u8], mode: u32) {
    fs::write(path, content).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// The fixed tree: the fixture folder at the root plus a generated `bootstrap`.
pub fn fixture_tree(src: &Path) -> Tree {
    let mut tree = Tree::new();
    tree.add_folder(".", src).unwrap();
    tree.add_bytes(
        "bootstrap",
        b"#!/bin/sh\nexec bin/tool\n".to_vec(),
        FileMode::Executable,
    )
    .unwrap();
    tree
}

/// Zips the fixed tree of `src` (see [`write_fixture`]) into `zip` with default options.
pub fn build_fixture(src: &Path, zip: &Path) -> Built {
    build(
        &fixture_tree(src),
        &artifact(),
        zip,
        &BuildOptions::default(),
        Mode::Write,
    )
    .unwrap()
}

pub fn artifact() -> Artifact {
    Artifact {
        name: "fixture".into(),
        kind: ArtifactKind::Layer,
        architecture: Architecture::X86_64,
        compatible_runtimes: vec!["provided.al2023".into()],
    }
}

/// One central-directory record and its local header, as raw numbers.
#[derive(Debug)]
pub struct RawEntry {
    pub name: String,
    pub made_by: u16,
    pub method: u16,
    pub dos_time: u16,
    pub dos_date: u16,
    pub compressed_size: u32,
    pub uncompressed_size: u32,
    pub central_extra_len: u16,
    pub local_extra_len: u16,
    pub comment_len: u16,
    pub external_attributes: u32,
    pub flags: u16,
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Parses a zip's central directory by hand (no zip library), so the test
/// sees exactly the bytes written.
pub fn parse_zip(bytes: &[u8]) -> Vec<RawEntry> {
    let eocd = (0..=bytes.len() - 22)
        .rev()
        .find(|&i| u32_at(bytes, i) == 0x0605_4b50)
        .expect("no end of central directory");
    let count = u16_at(bytes, eocd + 10) as usize;
    let mut at = u32_at(bytes, eocd + 16) as usize;
    let mut entries = Vec::new();
    for _ in 0..count {
        assert_eq!(u32_at(bytes, at), 0x0201_4b50, "central header signature");
        let name_len = u16_at(bytes, at + 28) as usize;
        let extra_len = u16_at(bytes, at + 30);
        let comment_len = u16_at(bytes, at + 32);
        let local = u32_at(bytes, at + 42) as usize;
        assert_eq!(u32_at(bytes, local), 0x0403_4b50, "local header signature");
        entries.push(RawEntry {
            name: String::from_utf8(bytes[at + 46..at + 46 + name_len].to_vec()).unwrap(),
            made_by: u16_at(bytes, at + 4),
            flags: u16_at(bytes, at + 8),
            method: u16_at(bytes, at + 10),
            dos_time: u16_at(bytes, at + 12),
            dos_date: u16_at(bytes, at + 14),
            compressed_size: u32_at(bytes, at + 20),
            uncompressed_size: u32_at(bytes, at + 24),
            central_extra_len: extra_len,
            local_extra_len: u16_at(bytes, local + 28),
            comment_len,
            external_attributes: u32_at(bytes, at + 38),
        });
        at += 46 + name_len + extra_len as usize + comment_len as usize;
    }
    entries
}

/// Names of the files left in a folder (to prove no temp file survives).
pub fn folder_listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}
