//! Closures of real binaries of this (Debian x86_64) machine.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};

use lamina_elf::{
    Arch, Closure, ElfInfo, FoundVia, GlibcVersion, Problem, ProvidedLibraries, Resolution,
    ResolveOptions, check,
};

fn read(path: &str) -> ElfInfo {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    ElfInfo::parse(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn perl_bundles_libcrypt_through_its_symlinked_soname() {
    let provided = ProvidedLibraries::al2023(Arch::X86_64);
    let options = ResolveOptions::al2023(Arch::X86_64, &provided);
    let closure = Closure::resolve(&["/usr/bin/perl"], &options).unwrap();
    println!("{closure}");

    // libcrypt is a known gap of the image: copied.
    let crypt = closure
        .library("libcrypt.so.1")
        .expect("perl needs libcrypt.so.1");
    let Resolution::Bundled {
        found_at,
        real_path,
        via,
    } = &crypt.resolution
    else {
        panic!("libcrypt.so.1 not bundled: {crypt:?}");
    };
    assert_eq!(found_at.file_name().unwrap(), "libcrypt.so.1");
    // Debian's libcrypt.so.1 is a symlink to libcrypt.so.1.1.0: the real file is copied
    // under the soname.
    assert_ne!(real_path.file_name().unwrap(), "libcrypt.so.1");
    assert!(real_path.is_file() && !real_path.is_symlink());
    assert_eq!(*via, FoundVia::LdSoConf);
    assert_eq!(
        closure.bundled().collect::<Vec<_>>(),
        vec![("libcrypt.so.1", real_path.as_path())]
    );
    // glibc is never copied.
    for glibc in ["libc.so.6", "libm.so.6"] {
        assert_eq!(
            closure.library(glibc).unwrap().resolution,
            Resolution::Glibc
        );
    }
    // Debian 12's libcrypt itself needs GLIBC_2.36 (arc4random_buf): a real reason this
    // copy would not load on Lambda, and the report says so.
    for problem in &closure.problems {
        assert!(
            matches!(problem, Problem::GlibcTooNew { path, .. } if path == found_at),
            "{problem}"
        );
    }
}

#[test]
fn bash_needs_a_glibc_newer_than_al2023() {
    // Debian 12 builds against glibc 2.36; bash uses GLIBC_2.36 symbols.
    let info = read("/bin/bash");
    let (newest, need) = info.newest_glibc().unwrap();
    assert!(newest > GlibcVersion::AL2023, "{newest}");
    assert_eq!(need.file, "libc.so.6");
    let problems = check(
        Path::new("/bin/bash"),
        &info,
        Arch::X86_64,
        GlibcVersion::AL2023,
    );
    let [
        Problem::GlibcTooNew {
            needs,
            version_name,
            symbols,
            ..
        },
    ] = problems.as_slice()
    else {
        panic!("{problems:?}");
    };
    assert_eq!(*needs, newest);
    assert_eq!(version_name, &format!("GLIBC_{newest}"));
    assert!(!symbols.is_empty(), "symbols naming the culprit");
    let message = problems[0].to_string();
    assert!(
        message.starts_with("/bin/bash: needs glibc 2.3"),
        "{message}"
    );
    assert!(
        message.contains("Amazon Linux 2023 has glibc 2.34"),
        "{message}"
    );

    // The same binary is the wrong architecture for arm64.
    let problems = check(
        Path::new("/bin/bash"),
        &info,
        Arch::Aarch64,
        GlibcVersion::AL2023,
    );
    assert!(
        matches!(problems.as_slice(), [Problem::WrongArchitecture { found, .. }] if found == "x86_64"),
        "{problems:?}"
    );
}

#[test]
fn java_finds_libjli_through_rpath_with_origin() {
    // /usr/bin/java -> /etc/alternatives/java -> /usr/lib/jvm/.../bin/java, with
    // DT_RPATH $ORIGIN:$ORIGIN/../lib: $ORIGIN is the real directory of the program.
    let info = read("/usr/bin/java");
    assert!(info.rpath.iter().any(|p| p.contains("$ORIGIN")), "{info:?}");
    let provided = ProvidedLibraries::al2023(Arch::X86_64);
    let options = ResolveOptions::al2023(Arch::X86_64, &provided);
    let closure = Closure::resolve(&["/usr/bin/java"], &options).unwrap();
    println!("{closure}");
    let jli = closure.library("libjli.so").expect("java needs libjli.so");
    let Resolution::Bundled { found_at, via, .. } = &jli.resolution else {
        panic!("{jli:?}");
    };
    let real_java = std::fs::canonicalize("/usr/bin/java").unwrap();
    let expected_dir = real_java.parent().unwrap().parent().unwrap().join("lib");
    assert_eq!(found_at, &expected_dir.join("libjli.so"));
    assert_eq!(*via, FoundVia::Rpath(PathBuf::from("/usr/bin/java")));
}

#[test]
fn runpath_of_a_debian_program_is_followed() {
    // expr has DT_RUNPATH /usr/lib/x86_64-linux-gnu and needs libgmp (provided).
    let info = read("/usr/bin/expr");
    assert_eq!(info.runpath, vec!["/usr/lib/x86_64-linux-gnu".to_owned()]);
    assert!(info.rpath.is_empty());
    // With nothing provided, libgmp is found through RUNPATH.
    let provided = ProvidedLibraries::parse("libc.so.6 glibc\n").unwrap();
    let options = ResolveOptions::al2023(Arch::X86_64, &provided);
    let closure = Closure::resolve(&["/usr/bin/expr"], &options).unwrap();
    let gmp = closure.library("libgmp.so.10").unwrap();
    assert!(
        matches!(
            &gmp.resolution,
            Resolution::Bundled {
                via: FoundVia::Runpath,
                ..
            }
        ),
        "{gmp:?}"
    );
    // With al2023's list it is left out.
    let provided = ProvidedLibraries::al2023(Arch::X86_64);
    let options = ResolveOptions::al2023(Arch::X86_64, &provided);
    let closure = Closure::resolve(&["/usr/bin/expr"], &options).unwrap();
    assert_eq!(
        closure.library("libgmp.so.10").unwrap().resolution,
        Resolution::Provided
    );
}

#[test]
fn many_real_files_parse_without_error() {
    let mut parsed = 0;
    for dir in ["/usr/bin", "/usr/lib/x86_64-linux-gnu"] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            if !lamina_elf::is_elf(&bytes) {
                continue;
            }
            let info = ElfInfo::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(info.arch(), Some(Arch::X86_64), "{}", path.display());
            parsed += 1;
        }
    }
    assert!(parsed > 100, "only {parsed} ELF files found");
}
