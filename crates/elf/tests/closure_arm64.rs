//! Closures of arm64 files under a sysroot, resolved on this x86_64 machine, built with
//! the fixture generator in `common`.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use common::{AARCH64, Fixture, X86_64};
use lamina_elf::{
    Arch, Closure, ElfInfo, FoundVia, GlibcVersion, Problem, ProvidedLibraries, Resolution,
    ResolveOptions,
};

/// A small arm64 tree, laid out as a Debian arm64 system plus an application:
///
/// - `opt/app/bin/app`: RUNPATH `$ORIGIN/../lib`; needs libfoo.so.1 (in $ORIGIN/../lib,
///   a symlink chain to libfoo.so.1.2.3), libssl.so.3 (provided), libc.so.6 (glibc),
///   libcrypt.so.2 (a known gap: bundled from the multiarch dir), libcurl.so.4 (also a
///   root below), libmissing.so.7 (nowhere), libwrong.so.1 (only an x86_64 copy exists).
/// - libfoo.so.1.2.3 needs libbaz.so.1 (default dir) and GLIBC_2.38.
/// - `opt/legacy/bin/legacy`: RPATH /opt/legacy/lib; needs libold.so.3 there, which needs
///   libolder.so.1, found through the program's RPATH (the loader chain).
/// - `opt/custom/libcurl.so.4`: a bundled build of a library the image has (shadowed).
/// - `opt/tools/x86tool`: an x86_64 program in an arm64 layer.
struct Tree {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Tree {
    fn new() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        let multiarch = root.join("usr/lib/aarch64-linux-gnu");

        Fixture::program(AARCH64)
            .runpath("$ORIGIN/../lib")
            .needs(&[
                "libfoo.so.1",
                "libssl.so.3",
                "libc.so.6",
                "libcrypt.so.2",
                "libcurl.so.4",
                "libmissing.so.7",
                "libwrong.so.1",
            ])
            .needs_version("libc.so.6", "GLIBC_2.17", &["malloc", "free"])
            .needs_version("libc.so.6", "GLIBC_2.34", &["__libc_start_main"])
            .write(&root.join("opt/app/bin/app"));
        Fixture::library(AARCH64, "libfoo.so.1")
            .needs(&["libbaz.so.1", "libc.so.6"])
            .needs_version("libc.so.6", "GLIBC_2.17", &["memcpy"])
            .needs_version("libc.so.6", "GLIBC_2.38", &["__isoc23_strtol", "strlcpy"])
            .write(&root.join("opt/app/lib/libfoo.so.1.2.3"));
        symlink("libfoo.so.1.2.3", root.join("opt/app/lib/libfoo.so.1")).unwrap();
        // An absolute symlink: followed inside the sysroot, not on this machine.
        Fixture::library(AARCH64, "libbaz.so.1")
            .needs(&["libc.so.6"])
            .write(&multiarch.join("libbaz.so.1.0.0"));
        symlink(
            "/usr/lib/aarch64-linux-gnu/libbaz.so.1.0.0",
            multiarch.join("libbaz.so.1"),
        )
        .unwrap();
        Fixture::library(AARCH64, "libcrypt.so.2")
            .needs(&["libc.so.6"])
            .write(&multiarch.join("libcrypt.so.2.0.0"));
        symlink("libcrypt.so.2.0.0", multiarch.join("libcrypt.so.2")).unwrap();
        // Only a foreign copy of libwrong: the loader skips it, so it is missing.
        Fixture::library(X86_64, "libwrong.so.1").write(&root.join("usr/lib/libwrong.so.1"));

        Fixture::program(AARCH64)
            .rpath("/opt/legacy/lib")
            .needs(&["libold.so.3", "libc.so.6"])
            .write(&root.join("opt/legacy/bin/legacy"));
        Fixture::library(AARCH64, "libold.so.3")
            .needs(&["libolder.so.1"])
            .write(&root.join("opt/legacy/lib/libold.so.3"));
        Fixture::library(AARCH64, "libolder.so.1")
            .write(&root.join("opt/legacy/lib/libolder.so.1"));

        Fixture::library(AARCH64, "libcurl.so.4")
            .needs(&["libc.so.6"])
            .write(&root.join("opt/custom/libcurl.so.4"));
        Fixture::program(X86_64)
            .needs(&["libc.so.6"])
            .write(&root.join("opt/tools/x86tool"));
        Tree { _dir: dir, root }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    fn resolve(&self, roots: &[&str], extra: &[PathBuf]) -> Closure {
        let provided = ProvidedLibraries::al2023(Arch::Aarch64);
        let options = ResolveOptions {
            arch: Arch::Aarch64,
            sysroot: &self.root,
            extra_search_dirs: extra,
            provided: &provided,
            max_glibc: GlibcVersion::AL2023,
            use_ld_so_conf: true,
        };
        let roots: Vec<PathBuf> = roots.iter().map(|r| self.path(r)).collect();
        Closure::resolve(&roots, &options).unwrap()
    }
}

#[test]
fn fixture_files_read_back() {
    let tree = Tree::new();
    let bytes = std::fs::read(tree.path("opt/app/lib/libfoo.so.1.2.3")).unwrap();
    let info = ElfInfo::parse(&bytes).unwrap();
    assert_eq!(info.arch(), Some(Arch::Aarch64));
    assert_eq!(info.soname.as_deref(), Some("libfoo.so.1"));
    assert_eq!(info.needed, ["libbaz.so.1", "libc.so.6"]);
    let (newest, need) = info.newest_glibc().unwrap();
    assert_eq!(newest, GlibcVersion::new(2, 38));
    assert_eq!(need.version, "GLIBC_2.38");
    assert_eq!(need.file, "libc.so.6");
    assert_eq!(need.symbols, ["__isoc23_strtol", "strlcpy"]);
}

#[test]
fn arm64_closure_covers_every_case() {
    let tree = Tree::new();
    let closure = tree.resolve(
        &[
            "opt/app/bin/app",
            "opt/legacy/bin/legacy",
            "opt/custom/libcurl.so.4",
            "opt/tools/x86tool",
        ],
        &[],
    );
    let lib = |name: &str| closure.library(name).unwrap().resolution.clone();

    // RUNPATH with $ORIGIN, and a symlinked soname chain: copied from the real file,
    // named after the soname.
    assert_eq!(
        lib("libfoo.so.1"),
        Resolution::Bundled {
            found_at: tree.path("opt/app/lib/libfoo.so.1"),
            real_path: tree.path("opt/app/lib/libfoo.so.1.2.3"),
            via: FoundVia::Runpath,
        }
    );
    // Absolute symlink resolved inside the sysroot; found in a default dir.
    assert_eq!(
        lib("libbaz.so.1"),
        Resolution::Bundled {
            found_at: tree.path("usr/lib/aarch64-linux-gnu/libbaz.so.1"),
            real_path: tree.path("usr/lib/aarch64-linux-gnu/libbaz.so.1.0.0"),
            via: FoundVia::DefaultDir,
        }
    );
    // libcrypt is a known gap of the image: copied.
    assert!(matches!(lib("libcrypt.so.2"), Resolution::Bundled { .. }));
    // Provided by al2023: left out, and not searched.
    assert_eq!(lib("libssl.so.3"), Resolution::Provided);
    assert_eq!(lib("libc.so.6"), Resolution::Glibc);
    // RPATH (absolute, under the sysroot), and RPATH of the program for a library's need.
    assert_eq!(
        lib("libold.so.3"),
        Resolution::Bundled {
            found_at: tree.path("opt/legacy/lib/libold.so.3"),
            real_path: tree.path("opt/legacy/lib/libold.so.3"),
            via: FoundVia::Rpath(tree.path("opt/legacy/bin/legacy")),
        }
    );
    assert_eq!(
        lib("libolder.so.1"),
        Resolution::Bundled {
            found_at: tree.path("opt/legacy/lib/libolder.so.1"),
            real_path: tree.path("opt/legacy/lib/libolder.so.1"),
            via: FoundVia::Rpath(tree.path("opt/legacy/bin/legacy")),
        }
    );
    // A root library satisfies the soname, and is shadowed by the system copy.
    assert_eq!(
        lib("libcurl.so.4"),
        Resolution::Root(tree.path("opt/custom/libcurl.so.4"))
    );
    assert_eq!(lib("libmissing.so.7"), Resolution::Missing);
    assert_eq!(lib("libwrong.so.1"), Resolution::Missing);

    let mut bundled: Vec<&str> = closure.bundled().map(|(soname, _)| soname).collect();
    bundled.sort_unstable();
    assert_eq!(
        bundled,
        [
            "libbaz.so.1",
            "libcrypt.so.2",
            "libfoo.so.1",
            "libold.so.3",
            "libolder.so.1"
        ]
    );

    let problem = |pred: &dyn Fn(&Problem) -> bool| {
        closure
            .problems
            .iter()
            .find(|p| pred(p))
            .unwrap_or_else(|| panic!("{closure}"))
            .clone()
    };
    let Problem::MissingLibrary {
        needed_by,
        searched,
        wrong_arch_candidates,
        ..
    } = problem(
        &|p| matches!(p, Problem::MissingLibrary { soname, .. } if soname == "libwrong.so.1"),
    )
    else {
        unreachable!()
    };
    assert_eq!(needed_by, [tree.path("opt/app/bin/app")]);
    assert_eq!(wrong_arch_candidates, [tree.path("usr/lib/libwrong.so.1")]);
    // RUNPATH first, then the default dirs of arm64, all under the sysroot.
    assert_eq!(searched[0], tree.path("opt/app/lib"));
    assert_eq!(searched[1], tree.path("lib/aarch64-linux-gnu"));
    assert_eq!(searched.len(), 7, "{searched:?}");

    let Problem::GlibcTooNew {
        path,
        needs,
        version_name,
        symbols,
        ..
    } = problem(&|p| matches!(p, Problem::GlibcTooNew { .. }))
    else {
        unreachable!()
    };
    assert_eq!(path.file_name().unwrap(), "libfoo.so.1");
    assert_eq!(needs, GlibcVersion::new(2, 38));
    assert_eq!(version_name, "GLIBC_2.38");
    assert_eq!(symbols, ["__isoc23_strtol", "strlcpy"]);

    let Problem::Shadowed {
        path,
        needed_by,
        programs,
        ..
    } = problem(&|p| matches!(p, Problem::Shadowed { .. }))
    else {
        unreachable!()
    };
    assert_eq!(path, tree.path("opt/custom/libcurl.so.4"));
    assert_eq!(needed_by, [tree.path("opt/app/bin/app")]);
    assert_eq!(programs, [tree.path("opt/app/bin/app")]);

    let Problem::WrongArchitecture { path, found, .. } =
        problem(&|p| matches!(p, Problem::WrongArchitecture { .. }))
    else {
        unreachable!()
    };
    assert_eq!(path, tree.path("opt/tools/x86tool"));
    assert_eq!(found, "x86_64");

    insta::assert_snapshot!("arm64_closure_report", closure.render(Some(&tree.root)));
}

#[test]
fn search_order_rpath_then_extra_dirs_then_runpath() {
    let tree = Tree::new();
    for dir in ["a", "b", "c"] {
        Fixture::library(AARCH64, "libdup.so.1").write(&tree.path(&format!("{dir}/libdup.so.1")));
    }
    Fixture::program(AARCH64)
        .rpath("/a")
        .needs(&["libdup.so.1"])
        .write(&tree.path("bin/with-rpath"));
    Fixture::program(AARCH64)
        .runpath("/c")
        .needs(&["libdup.so.1"])
        .write(&tree.path("bin/with-runpath"));
    // RUNPATH disables the object's own RPATH.
    let mut both = Fixture::program(AARCH64).needs(&["libdup.so.1"]);
    both.rpath = Some("/a".to_owned());
    both.runpath = Some("/c".to_owned());
    both.write(&tree.path("bin/with-both"));

    let extra = [tree.path("b")];
    let found = |program: &str| {
        let closure = tree.resolve(&[program], &extra);
        match &closure.library("libdup.so.1").unwrap().resolution {
            Resolution::Bundled { found_at, via, .. } => (
                found_at.strip_prefix(&tree.root).unwrap().to_owned(),
                via.clone(),
            ),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        found("bin/with-rpath"),
        (
            PathBuf::from("a/libdup.so.1"),
            FoundVia::Rpath(tree.path("bin/with-rpath"))
        )
    );
    assert_eq!(
        found("bin/with-runpath"),
        (PathBuf::from("b/libdup.so.1"), FoundVia::ExtraDir)
    );
    assert_eq!(
        found("bin/with-both"),
        (PathBuf::from("b/libdup.so.1"), FoundVia::ExtraDir)
    );
    // Without the extra dir, RUNPATH is used.
    let closure = tree.resolve(&["bin/with-runpath"], &[]);
    assert!(matches!(
        &closure.library("libdup.so.1").unwrap().resolution,
        Resolution::Bundled {
            via: FoundVia::Runpath,
            ..
        }
    ));
}

#[test]
fn ld_so_conf_of_the_sysroot_is_searched_before_default_dirs() {
    let tree = Tree::new();
    std::fs::create_dir_all(tree.path("etc/ld.so.conf.d")).unwrap();
    std::fs::write(
        tree.path("etc/ld.so.conf"),
        "include /etc/ld.so.conf.d/*.conf\n",
    )
    .unwrap();
    std::fs::write(tree.path("etc/ld.so.conf.d/local.conf"), "/usr/local/lib\n").unwrap();
    Fixture::library(AARCH64, "libbaz.so.1").write(&tree.path("usr/local/lib/libbaz.so.1"));
    let closure = tree.resolve(&["opt/app/bin/app"], &[]);
    assert_eq!(
        closure.library("libbaz.so.1").unwrap().resolution,
        Resolution::Bundled {
            found_at: tree.path("usr/local/lib/libbaz.so.1"),
            real_path: tree.path("usr/local/lib/libbaz.so.1"),
            via: FoundVia::LdSoConf,
        }
    );
}

#[test]
fn a_different_copy_for_another_program_is_a_conflict() {
    let tree = Tree::new();
    Fixture::library(AARCH64, "libfoo.so.1").write(&tree.path("other/lib/libfoo.so.1"));
    Fixture::program(AARCH64)
        .runpath("$ORIGIN/../lib")
        .needs(&["libfoo.so.1"])
        .write(&tree.path("other/bin/tool"));
    let closure = tree.resolve(&["opt/app/bin/app", "other/bin/tool"], &[]);
    assert!(
        closure.problems.iter().any(|p| matches!(
            p,
            Problem::ConflictingCopies { soname, dropped, .. }
                if soname == "libfoo.so.1" && dropped == &tree.path("other/lib/libfoo.so.1")
        )),
        "{closure}"
    );
}

#[test]
fn glibc_named_as_a_root_is_refused() {
    let tree = Tree::new();
    Fixture::library(AARCH64, "libc.so.6").write(&tree.path("x/libc.so.6"));
    let closure = tree.resolve(&["x/libc.so.6"], &[]);
    assert!(matches!(
        closure.problems.as_slice(),
        [Problem::BundlesGlibc { soname, .. }] if soname == "libc.so.6"
    ));
}

#[test]
fn musl_interpreter_is_reported() {
    let tree = Tree::new();
    let mut program = Fixture::program(AARCH64).needs(&["libc.musl-aarch64.so.1"]);
    program.interpreter = Some("/lib/ld-musl-aarch64.so.1".to_owned());
    program.write(&tree.path("bin/musl"));
    let closure = tree.resolve(&["bin/musl"], &[]);
    assert!(closure.problems.iter().any(|p| matches!(
        p,
        Problem::UnexpectedInterpreter { interpreter, .. } if interpreter == "/lib/ld-musl-aarch64.so.1"
    )));
    assert_eq!(
        closure
            .library("libc.musl-aarch64.so.1")
            .unwrap()
            .resolution,
        Resolution::Missing
    );
}

#[test]
fn unreadable_roots_are_errors_naming_the_file() {
    let tree = Tree::new();
    std::fs::write(tree.path("script.sh"), "#!/bin/sh\n").unwrap();
    let provided = ProvidedLibraries::al2023(Arch::Aarch64);
    let options = ResolveOptions::al2023(Arch::Aarch64, &provided);
    let err = Closure::resolve(&[tree.path("script.sh")], &options).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: not an ELF file (no \\x7fELF magic at the start)",
            tree.path("script.sh").display()
        )
    );
    let err = Closure::resolve(&[tree.path("nope")], &options).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{}: cannot read", tree.path("nope").display()))
    );
}

#[test]
fn a_corrupt_candidate_is_reported_and_skipped() {
    let tree = Tree::new();
    // A truncated libbaz earlier in the search order than the good one.
    std::fs::create_dir_all(tree.path("lib/aarch64-linux-gnu")).unwrap();
    let good = std::fs::read(tree.path("usr/lib/aarch64-linux-gnu/libbaz.so.1.0.0")).unwrap();
    std::fs::write(tree.path("lib/aarch64-linux-gnu/libbaz.so.1"), &good[..100]).unwrap();
    let closure = tree.resolve(&["opt/app/bin/app"], &[]);
    assert!(closure.problems.iter().any(|p| matches!(
        p,
        Problem::Unreadable { path, .. } if path == &tree.path("lib/aarch64-linux-gnu/libbaz.so.1")
    )), "{closure}");
    assert!(matches!(
        &closure.library("libbaz.so.1").unwrap().resolution,
        Resolution::Bundled { found_at, .. } if found_at == &tree.path("usr/lib/aarch64-linux-gnu/libbaz.so.1")
    ));
}

#[test]
fn x86_64_fixture_closure_in_a_sysroot() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    Fixture::program(X86_64)
        .needs(&["libgcrypt.so.20", "libz.so.1", "libc.so.6"])
        .write(&root.join("bin/tool"));
    Fixture::library(X86_64, "libgcrypt.so.20")
        .needs(&["libgpg-error.so.0"])
        .write(&root.join("usr/lib64/libgcrypt.so.20"));
    Fixture::library(X86_64, "libgpg-error.so.0")
        .write(&root.join("usr/lib/x86_64-linux-gnu/libgpg-error.so.0"));
    let provided = ProvidedLibraries::al2023(Arch::X86_64);
    let options = ResolveOptions {
        sysroot: root,
        ..ResolveOptions::al2023(Arch::X86_64, &provided)
    };
    let closure = Closure::resolve(&[root.join("bin/tool")], &options).unwrap();
    assert!(closure.is_ok(), "{closure}");
    let bundled: Vec<(&str, &Path)> = closure.bundled().collect();
    assert_eq!(
        bundled,
        [
            (
                "libgcrypt.so.20",
                root.join("usr/lib64/libgcrypt.so.20").as_path()
            ),
            (
                "libgpg-error.so.0",
                root.join("usr/lib/x86_64-linux-gnu/libgpg-error.so.0")
                    .as_path()
            ),
        ]
    );
    assert_eq!(
        closure.library("libz.so.1").unwrap().resolution,
        Resolution::Provided
    );
    insta::assert_snapshot!("x86_64_closure_report", closure.render(Some(root)));
}

#[test]
fn a_missing_library_names_exactly_the_files_that_cannot_find_it() {
    let tree = Tree::new();
    Fixture::library(AARCH64, "libonly.so.1").write(&tree.path("a/libonly.so.1"));
    Fixture::program(AARCH64)
        .runpath("/a")
        .needs(&["libonly.so.1"])
        .write(&tree.path("bin/finds-it"));
    Fixture::program(AARCH64)
        .needs(&["libonly.so.1", "libhelper.so.1"])
        .write(&tree.path("bin/lacks-it"));
    Fixture::library(AARCH64, "libhelper.so.1")
        .needs(&["libonly.so.1"])
        .write(&tree.path("usr/lib/libhelper.so.1"));
    let closure = tree.resolve(&["bin/finds-it", "bin/lacks-it"], &[]);
    let missing: Vec<_> = closure
        .problems
        .iter()
        .filter_map(|p| match p {
            Problem::MissingLibrary {
                soname, needed_by, ..
            } => Some((soname.as_str(), needed_by.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        missing,
        [(
            "libonly.so.1",
            vec![
                tree.path("bin/lacks-it"),
                tree.path("usr/lib/libhelper.so.1")
            ]
        )]
    );
    assert_eq!(
        closure.library("libonly.so.1").unwrap().needed_by_roots,
        [tree.path("bin/finds-it"), tree.path("bin/lacks-it")]
    );
    // Bundled for the program that finds it.
    assert!(matches!(
        closure.library("libonly.so.1").unwrap().resolution,
        Resolution::Bundled { .. }
    ));
}

#[test]
fn report_of_the_rarer_problems() {
    let tree = Tree::new();
    Fixture::library(AARCH64, "libc.so.6").write(&tree.path("x/libc.so.6"));
    let mut musl = Fixture::program(AARCH64).needs(&["libc.musl-aarch64.so.1"]);
    musl.interpreter = Some("/lib/ld-musl-aarch64.so.1".to_owned());
    musl.write(&tree.path("bin/musl"));
    Fixture::library(AARCH64, "libfoo.so.1").write(&tree.path("other/lib/libfoo.so.1"));
    Fixture::program(AARCH64)
        .runpath("$ORIGIN/../lib")
        .needs(&["libfoo.so.1"])
        .write(&tree.path("other/bin/tool"));
    std::fs::create_dir_all(tree.path("lib/aarch64-linux-gnu")).unwrap();
    std::fs::write(
        tree.path("lib/aarch64-linux-gnu/libbaz.so.1"),
        b"\x7fELF\x02\x01",
    )
    .unwrap();
    let closure = tree.resolve(
        &[
            "opt/app/bin/app",
            "other/bin/tool",
            "x/libc.so.6",
            "bin/musl",
        ],
        &[],
    );
    insta::assert_snapshot!("rarer_problems_report", closure.render(Some(&tree.root)));
}

#[test]
fn a_cycle_back_to_a_root_library_resolves_to_the_root() {
    let tree = Tree::new();
    Fixture::library(AARCH64, "libcycle.so.1")
        .needs(&["libpartner.so.1"])
        .write(&tree.path("x/libcycle.so.1"));
    Fixture::library(AARCH64, "libpartner.so.1")
        .needs(&["libcycle.so.1"])
        .write(&tree.path("usr/lib/libpartner.so.1"));
    let closure = tree.resolve(&["x/libcycle.so.1"], &[]);
    assert!(closure.is_ok(), "{closure}");
    assert_eq!(
        closure.library("libcycle.so.1").unwrap().resolution,
        Resolution::Root(tree.path("x/libcycle.so.1"))
    );
}
