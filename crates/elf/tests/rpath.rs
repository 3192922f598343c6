//! The in-place DT_RPATH edit, on fixtures and on a real program run by the real loader.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::Path;
use std::process::Command;

use common::{AARCH64, Fixture, X86_64};
use lamina_elf::{ElfInfo, RpathError, set_rpath};

#[test]
fn runpath_becomes_an_rpath_of_opt_lib() {
    let mut bytes = Fixture::program(AARCH64)
        .runpath("$ORIGIN/../lib/private")
        .needs(&["libfoo.so.1", "libc.so.6"])
        .build();
    let before = ElfInfo::parse(&bytes).unwrap();
    let edit = set_rpath(&mut bytes, "/opt/lib").unwrap();
    assert_eq!(edit.previous, "$ORIGIN/../lib/private");
    assert!(edit.converted_runpath);
    let after = ElfInfo::parse(&bytes).unwrap();
    assert_eq!(after.rpath, ["/opt/lib"]);
    assert!(after.runpath.is_empty());
    // Nothing else changed.
    assert_eq!(after.needed, before.needed);
    assert_eq!(after.interpreter, before.interpreter);
    assert_eq!(
        bytes.len(),
        Fixture::program(AARCH64)
            .runpath("$ORIGIN/../lib/private")
            .needs(&["libfoo.so.1", "libc.so.6"])
            .build()
            .len()
    );
}

#[test]
fn an_existing_rpath_is_rewritten_and_may_be_set_again() {
    let mut bytes = Fixture::library(X86_64, "libx.so.1")
        .rpath("/usr/local/lib/x")
        .build();
    let edit = set_rpath(&mut bytes, "$ORIGIN/../lib").unwrap();
    assert_eq!(edit.previous, "/usr/local/lib/x");
    assert!(!edit.converted_runpath);
    assert_eq!(ElfInfo::parse(&bytes).unwrap().rpath, ["$ORIGIN/../lib"]);
    // The slot keeps its original length, so a shorter and then a longer value fit.
    set_rpath(&mut bytes, "/opt/lib").unwrap();
    set_rpath(&mut bytes, "/usr/local/lib/y").unwrap();
    assert_eq!(ElfInfo::parse(&bytes).unwrap().rpath, ["/usr/local/lib/y"]);
    assert_eq!(
        ElfInfo::parse(&bytes).unwrap().soname.as_deref(),
        Some("libx.so.1")
    );
}

#[test]
fn both_entries_become_one_rpath() {
    let mut fixture = Fixture::program(X86_64).needs(&["libc.so.6"]);
    fixture.rpath = Some("/old/rpath/dir".to_owned());
    fixture.runpath = Some("/r".to_owned());
    let mut bytes = fixture.build();
    set_rpath(&mut bytes, "/opt/lib").unwrap();
    let info = ElfInfo::parse(&bytes).unwrap();
    assert_eq!(info.rpath, ["/opt/lib"]);
    assert!(
        info.runpath.is_empty(),
        "a DT_RUNPATH left would disable DT_RPATH"
    );
}

#[test]
fn no_room_is_explained_and_leaves_the_file_alone() {
    for (fixture, reason) in [
        (
            Fixture::program(X86_64).needs(&["libc.so.6"]),
            "no DT_RPATH or DT_RUNPATH entry",
        ),
        (
            Fixture::program(X86_64).runpath("/x").needs(&["libc.so.6"]),
            "room for 2 bytes, the new value needs 8",
        ),
        // The writer merges string tails: "lib" lives inside "/opt/mylib", so
        // overwriting the path would rename the needed library.
        (
            Fixture::program(X86_64)
                .runpath("/opt/mylib")
                .needs(&["lib"]),
            "shared with another name",
        ),
    ] {
        let original = fixture.build();
        let mut bytes = original.clone();
        let err = set_rpath(&mut bytes, "/opt/lib").unwrap_err();
        assert!(matches!(err, RpathError::NoRoom { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains(reason), "{message}");
        assert!(
            message.contains("patchelf --force-rpath --set-rpath /opt/lib"),
            "{message}"
        );
        assert!(message.contains("LD_LIBRARY_PATH"), "{message}");
        assert_eq!(bytes, original);
    }
    let mut bytes = Fixture::program(X86_64).runpath("/long/enough").build();
    assert_eq!(
        set_rpath(&mut bytes, "a\0b"),
        Err(RpathError::InvalidValue("a\0b".to_owned()))
    );
    let mut garbage = b"not an elf file at all".to_vec();
    assert!(matches!(
        set_rpath(&mut garbage, "/opt/lib"),
        Err(RpathError::Elf(_))
    ));
}

/// Where the real loader finds `soname` for `program`, with Lambda's order of
/// `LD_LIBRARY_PATH` (system dirs first, the layer's lib dir last).
fn loaded_from(program: &Path, soname: &str, ld_library_path: &str) -> String {
    let output = Command::new(program)
        .env("LD_TRACE_LOADED_OBJECTS", "1")
        .env("LD_LIBRARY_PATH", ld_library_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|line| {
            let (name, rest) = line.trim().split_once(" => ")?;
            (name == soname).then(|| rest.split(" (").next().unwrap_or(rest).to_owned())
        })
        .unwrap_or_else(|| panic!("{soname} not in loader trace: {stdout}"))
}

#[test]
fn the_real_loader_prefers_the_bundled_copy_after_the_edit() {
    // expr (coreutils) has DT_RUNPATH /usr/lib/x86_64-linux-gnu and needs libgmp.so.10.
    let dir = tempfile::tempdir().unwrap();
    let layer = dir.path().join("opt");
    std::fs::create_dir_all(layer.join("bin")).unwrap();
    std::fs::create_dir_all(layer.join("lib")).unwrap();
    let program = layer.join("bin/expr");
    std::fs::copy("/usr/bin/expr", &program).unwrap();
    std::fs::copy(
        "/usr/lib/x86_64-linux-gnu/libgmp.so.10",
        layer.join("lib/libgmp.so.10"),
    )
    .unwrap();
    let lambda_like = format!(
        "/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:{}",
        layer.join("lib").display()
    );
    // Shadowed: the system copy wins, as on Lambda.
    assert_eq!(
        loaded_from(&program, "libgmp.so.10", &lambda_like),
        "/lib/x86_64-linux-gnu/libgmp.so.10"
    );

    let mut bytes = std::fs::read(&program).unwrap();
    let edit = set_rpath(&mut bytes, "$ORIGIN/../lib").unwrap();
    assert_eq!(edit.previous, "/usr/lib/x86_64-linux-gnu");
    std::fs::write(&program, &bytes).unwrap();

    // DT_RPATH is searched before LD_LIBRARY_PATH: the bundled copy wins.
    assert_eq!(
        std::fs::canonicalize(loaded_from(&program, "libgmp.so.10", &lambda_like)).unwrap(),
        layer.join("lib/libgmp.so.10")
    );
    // And the program still works.
    let output = Command::new(&program)
        .args(["40", "+", "2"])
        .env("LD_LIBRARY_PATH", &lambda_like)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "42\n");
}
