//! `[[elf]]` on real binaries compiled here with `cc`, the ELF checks of trees and zips,
//! and leaving out of a function what its layers carry.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use lamina_elf::ProvidedKind;
use lamina_layer_builder::{
    Architecture, Artifact, ArtifactKind, BuildOptions, ElfOptions, ElfSpec, ElfTarget, Error,
    FileMode, Mode, Tree, add_elf_files, build, check_tree, check_zip, leave_out_layer_files,
};

/// Compiles C `source` into `output` with `cc` and `args`.
fn cc(dir: &Path, source: &str, output: &str, args: &[&str]) -> PathBuf {
    let c = dir.join(format!("{output}.c"));
    fs::write(&c, source).unwrap();
    let out = dir.join(output);
    let status = Command::new("cc")
        .arg("-o")
        .arg(&out)
        .arg(&c)
        .args(args)
        .current_dir(dir)
        .status()
        .expect("cc is needed to build the test binaries");
    assert!(status.success(), "cc {output}");
    out
}

const LIBRARY: &str = "const char *who(void) { return WHO; }\n";
const PROGRAM: &str =
    "#include <stdio.h>\nconst char *who(void);\nint main(void) { puts(who()); return 0; }\n";

/// `build/libdemo.so.1` says "bundled", `sys/libdemo.so.1` says "system" (standing for
/// the image's `/lib64` copy), and two programs need it: `demo` without any search path,
/// `demo-runpath` with a long `DT_RUNPATH` (room for an in-place `DT_RPATH`).
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let build = dir.path().join("build");
        let sys = dir.path().join("sys");
        fs::create_dir_all(&build).unwrap();
        fs::create_dir_all(&sys).unwrap();
        for (folder, who) in [(&build, "bundled"), (&sys, "system")] {
            cc(
                folder,
                LIBRARY,
                "libdemo.so.1",
                &[
                    "-shared",
                    "-fPIC",
                    "-Wl,-soname,libdemo.so.1",
                    &format!("-DWHO=\"{who}\""),
                ],
            );
        }
        std::os::unix::fs::symlink("libdemo.so.1", build.join("libdemo.so")).unwrap();
        cc(&build, PROGRAM, "demo", &["-L.", "-ldemo"]);
        cc(
            &build,
            PROGRAM,
            "demo-runpath",
            &[
                "-L.",
                "-ldemo",
                "-Wl,--enable-new-dtags,-rpath,/nonexistent/placeholder/lib",
            ],
        );
        Fixture { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn spec(&self, rel: &str) -> ElfSpec {
        ElfSpec {
            from: self.path(rel).display().to_string(),
            to: None,
        }
    }

    /// provided.al2023, plus libdemo.so.1 as one of the image's libraries.
    fn target(&self) -> ElfTarget {
        let mut target = ElfTarget::al2023(Architecture::X86_64);
        target.provided.insert("libdemo.so.1", ProvidedKind::System);
        target
    }

    /// Runs `/opt/bin/<program>` with `opt` mounted at /opt and `sys` before /opt/lib on
    /// LD_LIBRARY_PATH, as Lambda orders /lib64 and /opt/lib.
    fn run_at_opt(&self, opt: &Path, program: &str) -> String {
        let script =
            r#"mount --bind "$1" /opt && LD_LIBRARY_PATH="$2:/opt/lib" exec "/opt/bin/$3""#;
        let output = Command::new("unshare")
            .args([
                "--user",
                "--map-root-user",
                "--mount",
                "sh",
                "-c",
                script,
                "sh",
            ])
            .arg(opt)
            .arg(self.path("sys"))
            .arg(program)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{program}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }
}

fn layer(name: &str) -> Artifact {
    Artifact {
        name: name.into(),
        kind: ArtifactKind::Layer,
        architecture: Architecture::X86_64,
        compatible_runtimes: vec!["provided.al2023".into()],
    }
}

fn unzip(zip: &Path, into: &Path) {
    let status = Command::new("unzip")
        .arg("-q")
        .arg(zip)
        .arg("-d")
        .arg(into)
        .status()
        .unwrap();
    assert!(status.success());
}

/// A bundled library with the soname of one the image has loses to /lib64 unless the
/// programs that need it carry DT_RPATH=/opt/lib: the builder sets it (in place when the
/// file has a search-path string to reuse, with patchelf when not), and the programs
/// then really load the bundled copy under the loader.
#[test]
fn a_bundled_library_wins_over_the_system_copy_for_the_programs_that_need_it() {
    let fixture = Fixture::new();
    let target = fixture.target();
    let base = fixture.dir.path();

    // Without the fix, the system copy wins: what Lambda does to a naive layer.
    let naive = fixture.path("naive");
    fs::create_dir_all(naive.join("bin")).unwrap();
    fs::create_dir_all(naive.join("lib")).unwrap();
    fs::copy(fixture.path("build/demo"), naive.join("bin/demo")).unwrap();
    fs::copy(
        fixture.path("build/libdemo.so.1"),
        naive.join("lib/libdemo.so.1"),
    )
    .unwrap();
    assert_eq!(fixture.run_at_opt(&naive, "demo"), "system");
    // ... and the check of such a layer says so, naming the program to fix.
    let mut naive_tree = Tree::new();
    naive_tree.add_folder(".", &naive).unwrap();
    let naive_check = check_tree(&naive_tree, ArtifactKind::Layer, &[], &target).unwrap();
    insta::assert_snapshot!("naive_layer_check", naive_check.render());

    let mut tree = Tree::new();
    let specs = [
        fixture.spec("build/demo"),
        fixture.spec("build/demo-runpath"),
        fixture.spec("build/libdemo.so.1"),
    ];
    let bundle = add_elf_files(
        &specs,
        &ElfOptions::default(),
        &mut tree,
        ArtifactKind::Layer,
        &target,
    )
    .unwrap()
    .unwrap();
    insta::assert_snapshot!("shadowed_closure_report", bundle.render(Some(base)));
    let hows: Vec<(&str, &str)> = bundle
        .rpath_fixes
        .iter()
        .map(|f| (f.dest.as_str(), f.how))
        .collect();
    assert_eq!(
        hows,
        [("bin/demo", "patchelf"), ("bin/demo-runpath", "in place")]
    );
    let check = check_tree(&tree, ArtifactKind::Layer, &[], &target).unwrap();
    assert!(check.is_ok(), "{}", check.render());

    let zip = base.join("out/demo-x86_64.zip");
    build(
        &tree,
        &layer("demo"),
        &zip,
        &BuildOptions::default(),
        Mode::Write,
    )
    .unwrap();
    let opt = base.join("opt-view");
    unzip(&zip, &opt);
    assert_eq!(fixture.run_at_opt(&opt, "demo"), "bundled");
    assert_eq!(fixture.run_at_opt(&opt, "demo-runpath"), "bundled");
    // The zip passes the same check as the tree.
    let zip_check = check_zip(&zip, ArtifactKind::Layer, &[], &target).unwrap();
    assert!(zip_check.is_ok(), "{}", zip_check.render());
}

/// The closure of a program through a symlinked soname chain: the real file is copied
/// as lib/<soname>, the image's libraries and glibc are left out.
#[test]
fn closure_report_of_a_program_with_a_private_library() {
    let fixture = Fixture::new();
    let base = fixture.dir.path();
    // libdemo.so.1 -> libdemo.so.1.2.3, found through the program's $ORIGIN RUNPATH.
    let app = fixture.path("app");
    fs::create_dir_all(app.join("bin")).unwrap();
    fs::create_dir_all(app.join("lib")).unwrap();
    cc(
        &app.join("lib"),
        LIBRARY,
        "libdemo.so.1.2.3",
        &[
            "-shared",
            "-fPIC",
            "-Wl,-soname,libdemo.so.1",
            "-DWHO=\"private\"",
            "-lz",
        ],
    );
    std::os::unix::fs::symlink("libdemo.so.1.2.3", app.join("lib/libdemo.so.1")).unwrap();
    std::os::unix::fs::symlink("libdemo.so.1", app.join("lib/libdemo.so")).unwrap();
    cc(
        &app.join("bin"),
        PROGRAM,
        "app",
        &[
            "-L../lib",
            "-ldemo",
            "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib",
        ],
    );
    let mut tree = Tree::new();
    let target = ElfTarget::al2023(Architecture::X86_64);
    let bundle = add_elf_files(
        &[fixture.spec("app/bin/app")],
        &ElfOptions::default(),
        &mut tree,
        ArtifactKind::Layer,
        &target,
    )
    .unwrap()
    .unwrap();
    insta::assert_snapshot!("private_library_closure_report", bundle.render(Some(base)));
    assert_eq!(
        tree.plan()
            .unwrap()
            .iter()
            .map(|e| (e.name.as_str(), e.mode))
            .collect::<Vec<_>>(),
        [
            ("bin/", 0o755),
            ("bin/app", 0o755),
            ("lib/", 0o755),
            ("lib/libdemo.so.1", 0o755)
        ]
    );
}

/// A library found nowhere stops the build, naming it, who needs it and the fix.
#[test]
fn a_missing_library_is_refused() {
    let fixture = Fixture::new();
    let lonely = fixture.path("lonely");
    fs::create_dir_all(&lonely).unwrap();
    cc(
        &lonely,
        LIBRARY,
        "libgone.so.7",
        &[
            "-shared",
            "-fPIC",
            "-Wl,-soname,libgone.so.7",
            "-DWHO=\"x\"",
        ],
    );
    cc(&lonely, PROGRAM, "needs-gone", &["-L.", "-l:libgone.so.7"]);
    fs::remove_file(lonely.join("libgone.so.7")).unwrap();
    let mut tree = Tree::new();
    let error = add_elf_files(
        &[fixture.spec("lonely/needs-gone")],
        &ElfOptions::default(),
        &mut tree,
        ArtifactKind::Layer,
        &ElfTarget::al2023(Architecture::X86_64),
    )
    .unwrap_err();
    let Error::ElfClosure { problems, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!(problems.len(), 1, "{error}");
    assert!(
        problems[0].starts_with("libgone.so.7: needed by ")
            && problems[0].contains("needs-gone")
            && problems[0].contains("cannot open shared object file")
            && problems[0].contains("Fix: install the package"),
        "{}",
        problems[0]
    );
}

/// Debian 12's jq needs libjq.so.1, which needs a glibc newer than 2.34 (GLIBC_2.35, or
/// GLIBC_2.36 since a point release): the build says so, naming the library, the symbol
/// version and the fix. (Why layers/xmlstarlet ships xmlstarlet.)
#[test]
fn debian_jq_needs_a_glibc_newer_than_al2023s() {
    let jq = Path::new("/usr/bin/jq");
    assert!(jq.is_file(), "apt-get install -y jq");
    let mut tree = Tree::new();
    let error = add_elf_files(
        &[ElfSpec {
            from: "/usr/bin/jq".into(),
            to: None,
        }],
        &ElfOptions::default(),
        &mut tree,
        ArtifactKind::Layer,
        &ElfTarget::al2023(Architecture::X86_64),
    )
    .unwrap_err();
    let Error::ElfClosure { problems, .. } = &error else {
        panic!("{error}");
    };
    let glibc: Vec<&String> = problems
        .iter()
        .filter(|p| p.contains("needs glibc"))
        .collect();
    assert!(
        glibc.iter().any(|p| p.contains("libjq.so.1")
            && glibc_minor_named(p).is_some_and(|minor| minor > 34)
            && p.contains("Amazon Linux 2023 has glibc 2.34")
            && p.contains("Fix: build it on a system with glibc 2.34 or older")),
        "{error}"
    );
    assert!(
        tree.is_empty(),
        "nothing is added when the closure is refused"
    );
}

/// The minor version of the first `GLIBC_2.N` a message names.
fn glibc_minor_named(message: &str) -> Option<u32> {
    let rest = &message[message.find("GLIBC_2.")? + "GLIBC_2.".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A zip of x86_64 files checked for arm64 names every file and the fix.
#[test]
fn a_zip_for_the_other_architecture_is_named_file_by_file() {
    let fixture = Fixture::new();
    let mut tree = Tree::new();
    tree.add_path("bin/demo", &fixture.path("build/demo"))
        .unwrap();
    tree.add_path("lib/libdemo.so.1", &fixture.path("build/libdemo.so.1"))
        .unwrap();
    tree.add_bytes("README", b"not ELF\n".to_vec(), FileMode::Regular)
        .unwrap();
    let zip = fixture.path("out/foreign.zip");
    build(
        &tree,
        &layer("foreign"),
        &zip,
        &BuildOptions::default(),
        Mode::Write,
    )
    .unwrap();
    let check = check_zip(
        &zip,
        ArtifactKind::Layer,
        &[],
        &ElfTarget::al2023(Architecture::Arm64),
    )
    .unwrap();
    insta::assert_snapshot!("wrong_architecture_zip_check", check.render());
    // A truncated "ELF" file is a problem naming it, not a panic.
    let mut broken = Tree::new();
    broken
        .add_bytes(
            "bin/broken",
            b"\x7fELF\x02\x01\x01".to_vec(),
            FileMode::Executable,
        )
        .unwrap();
    let check = check_tree(
        &broken,
        ArtifactKind::Function,
        &[],
        &ElfTarget::al2023(Architecture::X86_64),
    )
    .unwrap();
    assert_eq!(check.problems.len(), 1, "{}", check.render());
    assert!(
        check.problems[0].starts_with("/var/task/bin/broken: cannot be read as an ELF file"),
        "{}",
        check.render()
    );
}

/// A function's files identical to what Lambda finds in its layers are left out: the
/// bootstrap (/opt/bootstrap), libraries at the root or in lib/ (/opt/lib); a different
/// copy, a non-library, a symlink's target and what a later layer replaced stay.
#[test]
fn function_files_its_layers_carry_are_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let layer_tree = |files: &[(&str, &str)]| {
        let mut tree = Tree::new();
        for (path, content) in files {
            tree.add_bytes(path, content.as_bytes().to_vec(), FileMode::Executable)
                .unwrap();
        }
        tree
    };
    let runtime = layer_tree(&[("bootstrap", "the bootstrap")]);
    let tools = layer_tree(&[
        ("bin/tool", "the tool"),
        ("lib/libshared.so.1", "shared library"),
        ("lib/libroot.so.2", "root library"),
        ("lib/libold.so.1", "replaced below"),
        ("lib/libdiffers.so.1", "layer's copy"),
        ("lib/liblinked.so.1", "linked"),
    ]);
    let later = layer_tree(&[("lib/libold.so.1", "newer")]);
    let mut layers = Vec::new();
    for (name, tree) in [("runtime", runtime), ("tools", tools), ("later", later)] {
        let built = build(
            &tree,
            &layer(name),
            &dir.path().join(format!("{name}.zip")),
            &BuildOptions::default(),
            Mode::Write,
        )
        .unwrap();
        layers.push((name.to_owned(), built.manifest));
    }
    let mut function = layer_tree(&[
        ("bootstrap", "the bootstrap"),
        ("bin/tool", "the tool"),
        ("lib/libshared.so.1", "shared library"),
        ("libroot.so.2", "root library"),
        ("lib/libold.so.1", "replaced below"),
        ("lib/libdiffers.so.1", "function's copy"),
        ("lib/liblinked.so.1", "linked"),
        ("handler.sh", "echo hi"),
    ]);
    function
        .add_symlink("lib/liblinked.so", "liblinked.so.1")
        .unwrap();
    let report = leave_out_layer_files(&mut function, &layers).unwrap();
    insta::assert_snapshot!("dedup_report", report.render("fn (x86_64)"));
    let kept: Vec<String> = function
        .plan()
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(
        kept,
        [
            "bin/",
            "bin/tool",
            "handler.sh",
            "lib/",
            "lib/libdiffers.so.1",
            "lib/liblinked.so",
            "lib/liblinked.so.1",
            "lib/libold.so.1"
        ]
    );
}

/// Real arm64 files, built with Debian's cross compiler into a sysroot folder and resolved
/// on this x86_64 machine: the symlinked soname chain and a library found through
/// `[elf-options] search` are bundled, the layer really runs under qemu-aarch64, the same
/// files checked for x86_64 are the wrong architecture, and a GLIBC_2.36 symbol is refused.
#[test]
fn arm64_files_from_a_sysroot_are_bundled_and_run_under_qemu() {
    let gcc = "aarch64-linux-gnu-gcc";
    let cross_libc = Path::new("/usr/aarch64-linux-gnu");
    assert!(
        Command::new(gcc).arg("--version").output().is_ok() && cross_libc.is_dir(),
        "apt-get install -y gcc-aarch64-linux-gnu"
    );
    let dir = tempfile::tempdir().unwrap();
    let sysroot = dir.path().join("sysroot");
    let bin = sysroot.join("usr/bin");
    let libs = sysroot.join("usr/local/lib/demo");
    fs::create_dir_all(&bin).unwrap();
    fs::create_dir_all(&libs).unwrap();
    let cross = |folder: &Path, source: &str, output: &str, args: &[&str]| {
        let c = folder.join(format!("{output}.c"));
        fs::write(&c, source).unwrap();
        let status = Command::new(gcc)
            .arg("-o")
            .arg(folder.join(output))
            .arg(&c)
            .args(args)
            .current_dir(folder)
            .status()
            .unwrap();
        assert!(status.success(), "{gcc} {output}");
        fs::remove_file(c).unwrap();
    };
    cross(
        &libs,
        "const char *extra(void) { return \"arm64\"; }\n",
        "libextra.so.2",
        &["-shared", "-fPIC", "-Wl,-soname,libextra.so.2"],
    );
    cross(
        &libs,
        "const char *extra(void);\nconst char *who(void) { return extra(); }\n",
        "libdemo.so.1.0.0",
        &[
            "-shared",
            "-fPIC",
            "-Wl,-soname,libdemo.so.1",
            "-L.",
            "-l:libextra.so.2",
        ],
    );
    std::os::unix::fs::symlink("libdemo.so.1.0.0", libs.join("libdemo.so.1")).unwrap();
    cross(
        &bin,
        PROGRAM,
        "app",
        &[
            "-L../local/lib/demo",
            "-l:libdemo.so.1",
            "-Wl,--enable-new-dtags,-rpath,/usr/local/lib/demo",
            "-Wl,--allow-shlib-undefined",
        ],
    );
    // libextra is found neither by RUNPATH (which is not inherited) nor a default folder:
    // it needs the search option, as LD_LIBRARY_PATH would give it.
    let options = ElfOptions {
        search: vec!["/usr/local/lib/demo".into()],
        sysroot: [(Architecture::Arm64, sysroot.display().to_string())].into(),
    };
    let specs = [ElfSpec {
        from: "/usr/bin/app".into(),
        to: None,
    }];
    let arm64 = ElfTarget::al2023(Architecture::Arm64);
    let mut tree = Tree::new();
    let bundle = add_elf_files(&specs, &options, &mut tree, ArtifactKind::Layer, &arm64)
        .unwrap()
        .unwrap();
    insta::assert_snapshot!(
        "arm64_sysroot_closure_report",
        bundle.render(Some(&sysroot))
    );
    let check = check_tree(&tree, ArtifactKind::Layer, &[], &arm64).unwrap();
    assert!(check.is_ok(), "{}", check.render());

    // Without the search folder, libextra.so.2 is missing.
    let mut other = Tree::new();
    let no_search = ElfOptions {
        search: Vec::new(),
        ..options.clone()
    };
    let error = add_elf_files(&specs, &no_search, &mut other, ArtifactKind::Layer, &arm64)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("libextra.so.2: needed by ") && error.contains("libdemo.so.1"),
        "{error}"
    );

    // The layer runs: qemu-aarch64 with the cross libc as the image's /lib.
    let zip = dir.path().join("out/arm-demo.zip");
    let mut artifact = layer("arm-demo");
    artifact.architecture = Architecture::Arm64;
    build(
        &tree,
        &artifact,
        &zip,
        &BuildOptions::default(),
        Mode::Write,
    )
    .unwrap();
    let opt = dir.path().join("opt");
    unzip(&zip, &opt);
    let output = Command::new("qemu-aarch64")
        .arg("-L")
        .arg(cross_libc)
        .arg(opt.join("bin/app"))
        .env("LD_LIBRARY_PATH", opt.join("lib"))
        .output()
        .expect("qemu-aarch64 (apt-get install -y qemu-user)");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "arm64",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The same zip is the wrong architecture for x86_64.
    let check = check_zip(
        &zip,
        ArtifactKind::Layer,
        &[],
        &ElfTarget::al2023(Architecture::X86_64),
    )
    .unwrap();
    assert_eq!(check.problems.len(), 3, "{}", check.render());
    assert!(
        check
            .problems
            .iter()
            .all(|p| p.contains("built for aarch64, but the layer targets x86_64")),
        "{}",
        check.render()
    );

    // arc4random is GLIBC_2.36: too new for Amazon Linux 2023.
    cross(
        &bin,
        "#include <stdlib.h>\n#include <stdio.h>\nint main(void) { printf(\"%u\\n\", arc4random()); return 0; }\n",
        "random",
        &[],
    );
    let mut tree = Tree::new();
    let error = add_elf_files(
        &[ElfSpec {
            from: "/usr/bin/random".into(),
            to: None,
        }],
        &options,
        &mut tree,
        ArtifactKind::Layer,
        &arm64,
    )
    .unwrap_err()
    .to_string()
    .replace(&sysroot.display().to_string(), "$SYSROOT");
    assert!(
        error.contains(
            "$SYSROOT/usr/bin/random: needs glibc 2.36 (GLIBC_2.36 from libc.so.6, used by arc4random)"
        ),
        "{error}"
    );
}

/// The `[[elf]]` keys as a spec writes them; a typo is refused.
#[test]
fn elf_keys_parse_and_typos_are_refused() {
    let text = r#"
[[elf]]
from = "/usr/bin/xmlstarlet"

[[elf]]
from = "/usr/lib/{triplet}/libfoo.so.1"
to = "lib/libfoo.so.1"

[elf-options]
search = ["/usr/local/lib"]
sysroot = { arm64 = "/srv/arm64-root" }
"#;
    let spec =
        lamina_layer_builder::Spec::parse(text, Path::new("layer.toml"), ArtifactKind::Layer)
            .unwrap();
    assert_eq!(spec.elf.len(), 2);
    assert_eq!(spec.elf[1].to.as_deref(), Some("lib/libfoo.so.1"));
    assert_eq!(spec.elf_options.search, ["/usr/local/lib"]);
    assert_eq!(
        spec.elf_options
            .sysroot
            .get(&Architecture::Arm64)
            .map(String::as_str),
        Some("/srv/arm64-root")
    );
    let typo = "[[elf]]\nform = \"/usr/bin/jq\"\n";
    let error =
        lamina_layer_builder::Spec::parse(typo, Path::new("layer.toml"), ArtifactKind::Layer)
            .unwrap_err()
            .to_string();
    assert!(error.contains("unknown field `form`"), "{error}");
    let bad_arch = "[elf-options]\nsysroot = { aarch64 = \"/x\" }\n";
    assert!(
        lamina_layer_builder::Spec::parse(bad_arch, Path::new("layer.toml"), ArtifactKind::Layer)
            .is_err()
    );
}

/// A relative path, a file that does not exist, a text file and a truncated ELF file are
/// each refused with a message naming the `from` and what to do; nothing panics.
#[test]
fn unusable_elf_sources_are_named() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("script.sh"), "#!/bin/sh\n").unwrap();
    fs::write(dir.path().join("cut"), b"\x7fELF\x02\x01\x01\x00").unwrap();
    let target = ElfTarget::al2023(Architecture::X86_64);
    let refuse = |from: String| {
        let mut tree = Tree::new();
        add_elf_files(
            &[ElfSpec { from, to: None }],
            &ElfOptions::default(),
            &mut tree,
            ArtifactKind::Layer,
            &target,
        )
        .unwrap_err()
        .to_string()
        .replace(&dir.path().display().to_string(), "$TMP")
    };
    let messages = [
        refuse("usr/bin/jq".into()),
        refuse(format!("{}/nothing", dir.path().display())),
        refuse(format!("{}/script.sh", dir.path().display())),
        refuse(format!("{}/cut", dir.path().display())),
    ];
    insta::assert_snapshot!("unusable_elf_sources", messages.join("\n"));
}
