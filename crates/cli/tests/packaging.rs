//! The library's packaging on folders of scripts: what ships, what the layers already carry,
//! and the limits; no Rust is compiled.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use lamina_cli::compile::Compiler;
use lamina_cli::package::package_function;
use lamina_cli::project::{Project, Selection};
use lamina_layer_builder::{Architecture, BuildOptions, Limits, Mode, Status};

fn write(path: &Path, content: &str, mode: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn project(root: &Path) -> (Project, Compiler) {
    let project = Project::discover(&Selection {
        manifest_path: Some(root.to_path_buf()),
        ..Selection::default()
    })
    .unwrap();
    let compiler = Compiler {
        root: project.root.clone(),
        target_dir: project.target_dir.clone(),
        show_progress: false,
    };
    (project, compiler)
}

/// A folder whose spec names no files ships its files (not the spec, not hidden files, not
/// target/), the same bytes for both architectures, and `--check` verifies them.
#[test]
fn a_script_folder_ships_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let function = root.join("fn");
    write(
        &function.join("lamina.toml"),
        "name = \"shell-fn\"\n",
        0o644,
    );
    write(&function.join("bootstrap"), "#!/bin/sh\necho hi\n", 0o700);
    write(&function.join("lib/util.sh"), "x=1\n", 0o600);
    write(&function.join(".editor-state"), "x\n", 0o644);
    let (project, compiler) = project(root);
    assert_eq!(project.functions.len(), 1);
    let fun = project.function("shell-fn").unwrap();
    let built = package_function(
        &project,
        fun,
        &compiler,
        &Architecture::all(),
        &BuildOptions::default(),
        Mode::Write,
    )
    .unwrap();
    assert_eq!(built.len(), 2);
    let names: Vec<&str> = built[0]
        .built
        .manifest
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(names, ["bootstrap", "lib/", "lib/util.sh"]);
    assert_eq!(built[0].built.manifest.files[0].mode, "0755");
    assert_eq!(
        built[0].built.manifest.zip_sha256,
        built[1].built.manifest.zip_sha256
    );
    assert!(
        root.join("target/lambda/shell-fn/arm64/bootstrap.zip")
            .is_file()
    );
    let again = package_function(
        &project,
        fun,
        &compiler,
        &Architecture::all(),
        &BuildOptions::default(),
        Mode::Check,
    )
    .unwrap();
    assert!(again.iter().all(|p| p.built.status == Status::Verified));
}

/// A function without a bootstrap and without layers would fail on Lambda: refused.
#[test]
fn no_bootstrap_and_no_layers_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("lamina.toml"),
        "name = \"py\"\nhandler = \"h.handle\"\n",
        0o644,
    );
    write(
        &dir.path().join("h.py"),
        "def handle(e, c): return e\n",
        0o644,
    );
    let (project, compiler) = project(dir.path());
    let error = package_function(
        &project,
        project.only_function().unwrap(),
        &compiler,
        &[Architecture::X86_64],
        &BuildOptions::default(),
        Mode::Write,
    )
    .err()
    .unwrap();
    assert!(
        format!("{error:#}").contains("Couldn't find valid bootstrap(s)"),
        "{error:#}"
    );
}

/// The function's copy of a library its layer carries at /opt/lib is left out and
/// reported; over the unzipped limit, the error names the largest entries.
#[test]
fn files_the_layers_carry_are_left_out_and_the_limit_names_the_largest() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let library = "not really ELF, same bytes in both\n";
    write(
        &root.join("layers/tools/files/lib/libfoo.so.1"),
        library,
        0o644,
    );
    write(
        &root.join("layers/tools/layer.toml"),
        "[[copy]]\nfrom = \"files/lib\"\nto = \"lib\"\n",
        0o644,
    );
    let function = root.join("sample-lib");
    write(&function.join("handler.sh"), "#!/bin/sh\ncat\n", 0o755);
    write(&function.join("lib/libfoo.so.1"), library, 0o644);
    write(
        &function.join("lamina.toml"),
        "layers = [\"tools\"]\n[[copy]]\nfrom = \"handler.sh\"\nto = \"handler.sh\"\n\
         [[copy]]\nfrom = \"lib\"\nto = \"lib\"\n",
        0o644,
    );
    let (project, compiler) = project(root);
    let x86 = [Architecture::X86_64];
    let fun = project.function("sample-lib").unwrap();
    let packaged = package_function(
        &project,
        fun,
        &compiler,
        &x86,
        &BuildOptions::default(),
        Mode::Write,
    )
    .unwrap();
    let function = &packaged[0];
    assert_eq!(
        function.dedup.render("sample-lib (x86_64)"),
        "sample-lib (x86_64): left out 1 file(s), 35 bytes, that its layers carry \
         (unzipped 49 -> 14 bytes)\n  lib/libfoo.so.1          35 bytes  = \
         /opt/lib/libfoo.so.1 (layer tools)\n"
    );
    let names: Vec<&str> = function
        .built
        .manifest
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(names, ["handler.sh"]);
    assert!(root.join("target/layers/tools-x86_64.zip").is_file());

    let tight = BuildOptions {
        limits: Limits {
            max_unzipped_bytes: 40,
            ..Limits::LAMBDA
        },
        ..BuildOptions::default()
    };
    let error = package_function(&project, fun, &compiler, &x86, &tight, Mode::Write)
        .err()
        .unwrap();
    assert_eq!(
        error.to_string(),
        "sample-lib (x86_64): function and its 1 layers unzip to 49 bytes, over Lambda's \
         limit of 40 bytes; largest entries: /opt/lib/libfoo.so.1 (layer tools) 35 bytes, \
         /var/task/handler.sh 14 bytes"
    );
}

/// A script function's folder is shipped without following a symlink out of the project
/// (#19): `creds.txt -> ../../outside/secret.txt` and a linked folder of the build machine are
/// refused, naming the link, and no zip is written; a link inside the function's folder ships
/// as a link, and one to elsewhere in the project ships what it points at.
#[test]
fn symlinks_out_of_the_project_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    write(&outside.join("secret.txt"), "AKIA-not-for-lambda\n", 0o600);
    let root = dir.path().join("project");
    let function = root.join("fn");
    write(&function.join("lamina.toml"), "name = \"links\"\n", 0o644);
    write(&function.join("bootstrap"), "#!/bin/sh\necho hi\n", 0o755);
    write(&root.join("shared/common.sh"), "x=1\n", 0o644);
    let (project, compiler) = project(&root);
    let fun = project.function("links").unwrap();
    let package = || {
        package_function(
            &project,
            fun,
            &compiler,
            &[Architecture::X86_64],
            &BuildOptions::default(),
            Mode::Write,
        )
    };
    let zip = root.join("target/lambda/links/x86_64/bootstrap.zip");

    for (link, target) in [
        ("creds.txt", "../../outside/secret.txt"),
        ("data", "../../outside"),
    ] {
        std::os::unix::fs::symlink(target, function.join(link)).unwrap();
        let error = format!("{:#}", package().err().unwrap());
        assert!(
            error.contains(&format!(
                "symlink `{}` -> `{target}` leads out of the project",
                function.join(link).display()
            )) && error.contains("host = true"),
            "{error}"
        );
        assert!(!zip.exists(), "a zip was written with {link}");
        std::fs::remove_file(function.join(link)).unwrap();
    }

    std::os::unix::fs::symlink("bootstrap", function.join("start")).unwrap();
    std::os::unix::fs::symlink("../shared", function.join("shared")).unwrap();
    let built = package().unwrap();
    let files = &built[0].built.manifest.files;
    let shipped: Vec<(&str, Option<&str>)> = files
        .iter()
        .map(|f| (f.path.as_str(), f.target.as_deref()))
        .collect();
    assert_eq!(
        shipped,
        [
            ("bootstrap", None),
            ("shared/", None),
            ("shared/common.sh", None),
            ("start", Some("bootstrap")),
        ]
    );
}
