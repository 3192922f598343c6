//! Refused paths, interrupted builds, limits, incremental builds and `--check`.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use common::*;
use lamina_layer_builder::{
    ArtifactKind, BuildOptions, BuiltBinaries, Error, FileMode, LayerUsage, Limits, Manifest, Mode,
    Spec, Status, Tree, build,
};

/// Runs `f` against a fresh tree and returns its error message, with the
/// temporary folder's path replaced by `$TMP` so snapshots are stable.
fn refusal(dir: &Path, f: impl FnOnce(&mut Tree) -> Result<(), Error>) -> String {
    let mut tree = Tree::new();
    let error = match f(&mut tree).and_then(|()| tree.plan().map(|_| ())) {
        Ok(()) => panic!("expected a refusal"),
        Err(error) => error,
    };
    error
        .to_string()
        .replace(&dir.display().to_string(), "$TMP")
}

#[test]
fn every_refused_path_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut messages = Vec::new();
    let mut case = |name: &str, message: String| messages.push(format!("{name}:\n  {message}"));

    case(
        "absolute destination",
        refusal(root, |t| {
            t.add_bytes("/opt/bin/x", vec![], FileMode::Regular)
        }),
    );
    case(
        "parent component",
        refusal(root, |t| {
            t.add_bytes("lib/../../etc/passwd", vec![], FileMode::Regular)
        }),
    );
    case(
        "empty destination",
        refusal(root, |t| t.add_bytes("./", vec![], FileMode::Regular)),
    );
    case(
        "backslash",
        refusal(root, |t| {
            t.add_bytes("bin\\tool", vec![], FileMode::Regular)
        }),
    );
    case(
        "generated mode",
        refusal(root, |t| {
            let spec = Spec::parse(
                "[[generated]]\nto = \"secret\"\ncontent = \"x\"\nmode = 0o600\n",
                Path::new("layer.toml"),
                ArtifactKind::Layer,
            )?;
            spec.assemble_into(t, Path::new("."), Path::new("."), &BuiltBinaries::new())
        }),
    );
    case(
        "two sources",
        refusal(root, |t| {
            t.add_bytes("bootstrap", b"a".to_vec(), FileMode::Executable)?;
            t.add_symlink("bootstrap", "bin/tool")
        }),
    );
    case(
        "file where a folder is needed",
        refusal(root, |t| {
            t.add_bytes("lib", b"a".to_vec(), FileMode::Regular)?;
            t.add_bytes("lib/libz.so.1", b"b".to_vec(), FileMode::Regular)
        }),
    );
    case(
        "absolute symlink",
        refusal(root, |t| t.add_symlink("lib/libc.so", "/lib64/libc.so.6")),
    );
    case(
        "symlink climbing out",
        refusal(root, |t| {
            t.add_bytes("lib/libz.so.1", vec![], FileMode::Regular)?;
            t.add_symlink("lib/libz.so", "../../lib64/libz.so.1")
        }),
    );
    case(
        "symlink out through another symlink",
        refusal(root, |t| {
            t.add_bytes("lib/deep/file", vec![], FileMode::Regular)?;
            t.add_symlink("up", "lib/..")?;
            t.add_symlink("lib/escape", "../up/../x")
        }),
    );
    case(
        "dangling symlink",
        refusal(root, |t| t.add_symlink("lib/libz.so", "libz.so.1")),
    );
    case(
        "symlink loop",
        refusal(root, |t| {
            t.add_symlink("a", "b")?;
            t.add_symlink("b", "a")
        }),
    );

    // From disk: a symlink in a copied folder that leaves the tree, a
    // non-UTF-8 name, and a copy source outside the repository.
    let repo = root.join("repo");
    fs::create_dir_all(repo.join("layer/files")).unwrap();
    symlink("../../../outside", repo.join("layer/files/escape")).unwrap();
    case(
        "symlink on disk leaving the tree",
        refusal(root, |t| t.add_folder("share", &repo.join("layer/files"))),
    );
    let odd = root.join("odd");
    fs::create_dir_all(&odd).unwrap();
    let name = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"caf\xe9.txt");
    fs::write(odd.join(name), b"latin-1 name").unwrap();
    case("non-UTF-8 name", refusal(root, |t| t.add_folder(".", &odd)));
    fs::write(root.join("secret.txt"), b"outside the repository").unwrap();
    case(
        "copy source outside the repository",
        refusal(root, |t| {
            let spec = Spec::parse(
                "[[copy]]\nfrom = \"../../secret.txt\"\nto = \"secret.txt\"\n",
                Path::new("layer.toml"),
                ArtifactKind::Layer,
            )?;
            spec.assemble_into(t, &repo.join("layer"), &repo, &BuiltBinaries::new())
        }),
    );
    case(
        "absolute copy source",
        refusal(root, |t| {
            let spec = Spec::parse(
                "[[copy]]\nfrom = \"/etc/hostname\"\nto = \"hostname\"\n",
                Path::new("layer.toml"),
                ArtifactKind::Layer,
            )?;
            spec.assemble_into(t, &repo.join("layer"), &repo, &BuiltBinaries::new())
        }),
    );
    // From the build machine: `host = true` takes only absolute paths, and a symlink in
    // the copied folder must stay inside it.
    case(
        "relative host copy source",
        refusal(root, |t| {
            let spec = Spec::parse(
                "[[copy]]\nfrom = \"files\"\nto = \"share\"\nhost = true\n",
                Path::new("layer.toml"),
                ArtifactKind::Layer,
            )?;
            spec.assemble_into(t, &repo.join("layer"), &repo, &BuiltBinaries::new())
        }),
    );
    let host = root.join("host/perl5");
    fs::create_dir_all(host.join("lib")).unwrap();
    fs::write(root.join("host/Config.pm"), b"outside the copied folder").unwrap();
    symlink("../../Config.pm", host.join("lib/Config.pm")).unwrap();
    case(
        "host copy with a symlink leaving the folder",
        refusal(root, |t| {
            let spec = Spec::parse(
                &format!(
                    "[[copy]]\nfrom = \"{}\"\nto = \"lib/perl5\"\nhost = true\n",
                    host.display()
                ),
                Path::new("layer.toml"),
                ArtifactKind::Layer,
            )?;
            spec.assemble_into(t, &repo.join("layer"), &repo, &BuiltBinaries::new())
        }),
    );
    case(
        "copy source missing",
        refusal(root, |t| t.add_path("x", &repo.join("missing"))),
    );
    case(
        "binary not built",
        refusal(root, |t| {
            let spec = Spec::parse(
                "[[binary]]\npackage = \"sample-hello\"\nbin = \"bootstrap\"\nto = \"bootstrap\"\n",
                Path::new("package.toml"),
                ArtifactKind::Function,
            )?;
            spec.assemble_into(t, &repo, &repo, &BuiltBinaries::new())
        }),
    );

    insta::assert_snapshot!(messages.join("\n"));
}

#[test]
fn spec_errors_name_the_file() {
    let path = Path::new("layers/demo/layer.toml");
    let mut messages = Vec::new();
    for text in [
        "[[copy]]\nfrom = \"a\"\ndestination = \"b\"\n",
        "layers = [\"runtime\"]\n",
        "architectures = [\"riscv64\"]\n",
        "architectures = []\n",
    ] {
        let error = Spec::parse(text, path, ArtifactKind::Layer).unwrap_err();
        messages.push(error.to_string());
    }
    insta::assert_snapshot!(messages.join("\n---\n"));
}

#[test]
fn spec_assembles_copies_binaries_generated_files_and_symlinks() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let layer = repo.join("layers/demo");
    fs::create_dir_all(layer.join("bin")).unwrap();
    write(
        &layer.join("bin/hello.sh"),
        b"#!/bin/sh\necho hello\n",
        0o755,
    );
    fs::create_dir_all(repo.join("shared")).unwrap();
    write(&repo.join("shared/data.txt"), b"shared data\n", 0o644);
    let built_bin = dir.path().join("built-tool");
    write(&built_bin, b"\x7fELF pretend\n", 0o700);
    let text = r#"
description = "a demo layer"
[[copy]]
from = "bin"
to = "bin"
[[copy]]
from = "../../shared/data.txt"
to = "share/data.txt"
[[binary]]
package = "demo-tool"
to = "bin/demo-tool"
[[generated]]
to = "etc/demo.conf"
content = "level = 3\n"
[[symlink]]
to = "bin/hi"
target = "hello.sh"
"#;
    let spec = Spec::parse(text, &layer.join("layer.toml"), ArtifactKind::Layer).unwrap();
    assert_eq!(
        spec.binaries_needed(),
        [("demo-tool".to_owned(), "demo-tool".to_owned())]
    );
    let mut built = BuiltBinaries::new();
    built.insert(("demo-tool".into(), "demo-tool".into()), built_bin);
    let tree = spec.assemble(&layer, &repo, &built).unwrap();
    let listing: Vec<String> = tree
        .plan()
        .unwrap()
        .iter()
        .map(|e| format!("{} {:o}", e.name, e.mode))
        .collect();
    assert_eq!(
        listing,
        [
            "bin/ 755",
            "bin/demo-tool 755",
            "bin/hello.sh 755",
            "bin/hi 777",
            "etc/ 755",
            "etc/demo.conf 644",
            "share/ 755",
            "share/data.txt 644"
        ]
    );
}

#[test]
fn host_copies_take_a_folder_of_the_build_machine_without_python_bytecode() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    fs::create_dir_all(repo.join("layers/demo")).unwrap();
    // An interpreter's library tree outside the repository, named through a versioned
    // symlink as Debian does (/usr/share/perl/5.36 -> 5.36.0).
    let host = dir.path().join("usr/lib/demo");
    fs::create_dir_all(host.join("5.1.0/json/__pycache__")).unwrap();
    symlink("5.1.0", host.join("5.1")).unwrap();
    write(&host.join("5.1.0/json/__init__.py"), b"import os\n", 0o644);
    write(
        &host.join("5.1.0/json/__pycache__/__init__.cpython-311.pyc"),
        b"\x00",
        0o644,
    );
    write(&host.join("5.1.0/json/stale.pyc"), b"\x00", 0o644);
    write(&host.join("5.1.0/run.sh"), b"#!/bin/sh\n", 0o700);
    symlink("json/__init__.py", host.join("5.1.0/init.py")).unwrap();
    let text = format!(
        "[[copy]]\nfrom = \"{}\"\nto = \"lib/demo\"\nhost = true\n",
        host.join("5.1").display()
    );
    let spec = Spec::parse(&text, Path::new("layer.toml"), ArtifactKind::Layer).unwrap();
    let tree = spec
        .assemble(&repo.join("layers/demo"), &repo, &BuiltBinaries::new())
        .unwrap();
    let listing: Vec<String> = tree
        .plan()
        .unwrap()
        .iter()
        .map(|e| format!("{} {:o}", e.name, e.mode))
        .collect();
    assert_eq!(
        listing,
        [
            "lib/ 755",
            "lib/demo/ 755",
            "lib/demo/init.py 777",
            "lib/demo/json/ 755",
            "lib/demo/json/__init__.py 644",
            "lib/demo/run.sh 755",
        ]
    );
    // Without the opt-in the same absolute path is refused.
    let refused = Spec::parse(
        &text.replace("host = true\n", ""),
        Path::new("layer.toml"),
        ArtifactKind::Layer,
    )
    .unwrap()
    .assemble(&repo.join("layers/demo"), &repo, &BuiltBinaries::new())
    .unwrap_err();
    assert!(
        matches!(refused, Error::SourceOutsideRoot { .. }),
        "{refused}"
    );
}

#[test]
fn a_source_failing_mid_write_leaves_no_zip_and_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let src = write_fixture(dir.path());
    let out = dir.path().join("out");
    let zip = out.join("fixture.zip");
    let mut tree = fixture_tree(&src);
    // Each read of this file gives a new UUID: the content hashed while
    // planning differs from what the writer reads half-way through the zip.
    tree.add_path(
        "zz-changes-while-read",
        Path::new("/proc/sys/kernel/random/uuid"),
    )
    .unwrap();
    let error = build(
        &tree,
        &artifact(),
        &zip,
        &BuildOptions::default(),
        Mode::Write,
    )
    .unwrap_err();
    assert!(matches!(error, Error::SourceChanged { .. }), "{error}");
    assert_eq!(
        folder_listing(&out),
        Vec::<String>::new(),
        "no zip, no temporary file"
    );
}

#[test]
fn a_vanished_source_leaves_the_previous_zip_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let src = write_fixture(dir.path());
    let zip = dir.path().join("out/fixture.zip");
    build_fixture(&src, &zip);
    let before = fs::read(&zip).unwrap();
    let tree = fixture_tree(&src);
    fs::remove_file(src.join("share/big.txt")).unwrap();
    let error = build(
        &tree,
        &artifact(),
        &zip,
        &BuildOptions::default(),
        Mode::Write,
    )
    .unwrap_err();
    assert!(error.to_string().contains("share/big.txt"), "{error}");
    assert_eq!(fs::read(&zip).unwrap(), before);
    assert_eq!(
        folder_listing(&dir.path().join("out")),
        ["fixture.zip", "fixture.zip.manifest.json"]
    );
}

#[test]
fn limits_are_checked_with_the_numbers_in_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let src = write_fixture(dir.path());
    let out = dir.path().join("out");
    let zip = out.join("fixture.zip");
    let tree = fixture_tree(&src);
    let mut messages = Vec::new();

    let small_zip = Limits {
        max_zip_bytes: 1000,
        ..Limits::LAMBDA
    };
    let error = build(
        &tree,
        &artifact(),
        &zip,
        &BuildOptions {
            limits: small_zip,
            ..Default::default()
        },
        Mode::Write,
    )
    .unwrap_err();
    assert!(matches!(error, Error::ZipTooLarge { limit: 1000, .. }));
    messages.push(error.to_string());
    assert_eq!(
        folder_listing(&out),
        Vec::<String>::new(),
        "a zip over the limit is not kept"
    );

    let small_unzipped = Limits {
        max_unzipped_bytes: 100_000,
        ..Limits::LAMBDA
    };
    let error = build(
        &tree,
        &artifact(),
        &zip,
        &BuildOptions {
            limits: small_unzipped,
            ..Default::default()
        },
        Mode::Write,
    )
    .unwrap_err();
    messages.push(error.to_string());

    let function = build(
        &tree,
        &artifact(),
        &zip,
        &BuildOptions::default(),
        Mode::Write,
    )
    .unwrap()
    .manifest;
    let layer = Manifest {
        artifact: "layer".into(),
        ..function.clone()
    };
    let six_layers = vec![layer.clone(); 6];
    messages.push(
        Limits::LAMBDA
            .check_function_with_layers(&function, &six_layers)
            .unwrap_err()
            .to_string(),
    );
    Limits::LAMBDA
        .check_function_with_layers(&function, &six_layers[..5])
        .unwrap();
    let tight = Limits {
        max_unzipped_bytes: 200_000,
        ..Limits::LAMBDA
    };
    messages.push(
        tight
            .check_function_with_layers(&function, &[layer])
            .unwrap_err()
            .to_string(),
    );

    // A function is checked with its layers before anything is written.
    let fresh = dir.path().join("fresh/function.zip");
    for layers in [
        LayerUsage {
            count: 6,
            unzipped_bytes: 0,
        },
        LayerUsage {
            count: 2,
            unzipped_bytes: 262_100_000,
        },
    ] {
        let options = BuildOptions {
            layers,
            ..Default::default()
        };
        let error = build(&tree, &artifact(), &fresh, &options, Mode::Write).unwrap_err();
        messages.push(error.to_string());
        assert_eq!(
            folder_listing(&dir.path().join("fresh")),
            Vec::<String>::new()
        );
    }

    // Lambda's numbers are the defaults.
    assert_eq!(
        Limits::default(),
        Limits {
            max_zip_bytes: 52_428_800,
            max_unzipped_bytes: 262_144_000,
            max_layers_per_function: 5
        }
    );
    insta::assert_snapshot!(messages.join("\n"));
}

#[test]
fn unchanged_inputs_do_not_rewrite_the_zip() {
    let dir = tempfile::tempdir().unwrap();
    let src = write_fixture(dir.path());
    let zip = dir.path().join("out/fixture.zip");
    let options = BuildOptions::default();
    let first = build(
        &fixture_tree(&src),
        &artifact(),
        &zip,
        &options,
        Mode::Write,
    )
    .unwrap();
    assert_eq!(first.status, Status::Written);
    let written_at = fs::metadata(&zip).unwrap().modified().unwrap();

    // Touching a source (new mtime, same content) changes nothing.
    fs::File::options()
        .append(true)
        .open(src.join("bin/tool"))
        .unwrap()
        .set_modified(std::time::SystemTime::now())
        .unwrap();
    let second = build(
        &fixture_tree(&src),
        &artifact(),
        &zip,
        &options,
        Mode::Write,
    )
    .unwrap();
    assert_eq!(second.status, Status::Unchanged);
    assert_eq!(fs::metadata(&zip).unwrap().modified().unwrap(), written_at);
    assert_eq!(second.manifest, first.manifest);

    // New content is a new zip.
    write(&src.join("bin/tool"), b"#!/bin/sh\necho changed\n", 0o755);
    let third = build(
        &fixture_tree(&src),
        &artifact(),
        &zip,
        &options,
        Mode::Write,
    )
    .unwrap();
    assert_eq!(third.status, Status::Written);
    assert_ne!(third.manifest.zip_sha256, first.manifest.zip_sha256);

    // A zip changed behind the manifest's back is rebuilt, not trusted.
    fs::write(&zip, b"not a zip").unwrap();
    let fourth = build(
        &fixture_tree(&src),
        &artifact(),
        &zip,
        &options,
        Mode::Write,
    )
    .unwrap();
    assert_eq!(fourth.status, Status::Written);
    assert_eq!(fourth.manifest.zip_sha256, third.manifest.zip_sha256);
}

#[test]
fn manifest_records_files_hashes_and_code_sha256() {
    let dir = tempfile::tempdir().unwrap();
    let src = write_fixture(dir.path());
    let zip = dir.path().join("fixture.zip");
    let built = build_fixture(&src, &zip);
    let on_disk = Manifest::read(&dir.path().join("fixture.zip.manifest.json")).unwrap();
    assert_eq!(on_disk, built.manifest);
    let mut manifest = fs::read_to_string(&built.manifest_path).unwrap();
    // The digest covers the writer's version; keep the snapshot about shape.
    manifest = manifest.replace(&built.manifest.inputs_digest, "<inputs digest>");
    insta::assert_snapshot!(manifest);
}

#[test]
fn check_mode_compares_bytes_and_names_both_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let src = write_fixture(dir.path());
    let zip = dir.path().join("out/fixture.zip");
    let options = BuildOptions::default();
    let missing = build(
        &fixture_tree(&src),
        &artifact(),
        &zip,
        &options,
        Mode::Check,
    )
    .unwrap_err();
    assert!(matches!(missing, Error::CheckMissing { .. }), "{missing}");
    assert_eq!(
        folder_listing(&dir.path().join("out")),
        Vec::<String>::new()
    );

    let written = build(
        &fixture_tree(&src),
        &artifact(),
        &zip,
        &options,
        Mode::Write,
    )
    .unwrap();
    let verified = build(
        &fixture_tree(&src),
        &artifact(),
        &zip,
        &options,
        Mode::Check,
    )
    .unwrap();
    assert_eq!(verified.status, Status::Verified);

    let mut bytes = fs::read(&zip).unwrap();
    bytes[40] ^= 1;
    fs::write(&zip, &bytes).unwrap();
    let error = build(
        &fixture_tree(&src),
        &artifact(),
        &zip,
        &options,
        Mode::Check,
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("fixture (x86_64)"), "{message}");
    assert!(message.contains(&written.manifest.zip_sha256), "{message}");
    assert!(
        message.contains(&lamina_layer_builder::zip_sha256(&zip).unwrap()),
        "{message}"
    );
    assert_eq!(
        folder_listing(&dir.path().join("out")),
        ["fixture.zip", "fixture.zip.manifest.json"],
        "check leaves no temp file"
    );
}
