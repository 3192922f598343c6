//! `cargo lamina layer` on a layer folder with `[[pip]]`, outside this repository: the
//! arm64 wheels of a compiled package installed under `python/`, what was installed
//! printed, `--check` proving a second build gives the same bytes, and `cargo lamina check`
//! passing the zip for arm64 and refusing it for x86_64.
//!
//! Needs PyPI: when it cannot be reached the build fails saying so. pip's cache is kept
//! under the target dir.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `cargo lamina ARGS` in `dir` with builds in `target`.
fn lamina(dir: &Path, target: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-lamina"))
        .arg("lamina")
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .env(
            "PIP_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("pip-cache"),
        )
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_pip_layer_builds_checks_and_rebuilds_byte_for_byte() {
    let root = tempfile::tempdir().unwrap();
    let layer = root.path().join("py-deps");
    std::fs::create_dir_all(&layer).unwrap();
    std::fs::write(layer.join("requirements.txt"), "markupsafe==2.1.5\n").unwrap();
    std::fs::write(
        layer.join("layer.toml"),
        "architectures = [\"arm64\"]\n\n[[pip]]\nrequirements = \"requirements.txt\"\npython = \"3.12\"\n",
    )
    .unwrap();
    let target = root.path().join("target");

    let built = lamina(
        root.path(),
        &target,
        &["layer", "./py-deps", "--arch", "arm64"],
    );
    let said = text(&built);
    assert!(built.status.success(), "{said}");
    assert!(
        said.contains(
            "py-deps (arm64): [[pip]] requirements.txt for CPython 3.12 on arm64 (manylinux, glibc <= 2.34)"
        ) && said.contains("MarkupSafe 2.1.5"),
        "{said}"
    );
    let zip = target.join("layers/py-deps-arm64.zip");
    let listing = Command::new("unzip").arg("-Z1").arg(&zip).output().unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing
            .lines()
            .any(|l| l == "python/markupsafe/_speedups.cpython-312-aarch64-linux-gnu.so"),
        "{listing}"
    );

    // A new pip install, compared byte for byte with the zip on disk.
    let checked = lamina(
        root.path(),
        &target,
        &["layer", "./py-deps", "--arch", "arm64", "--check"],
    );
    assert!(checked.status.success(), "{}", text(&checked));
    assert!(text(&checked).contains("verified"), "{}", text(&checked));

    let zip = zip.to_str().unwrap();
    let arm = lamina(root.path(), &target, &["check", zip, "--arch", "arm64"]);
    assert!(arm.status.success(), "{}", text(&arm));
    let x86 = lamina(root.path(), &target, &["check", zip, "--arch", "x86_64"]);
    assert!(!x86.status.success(), "{}", text(&x86));
    assert!(
        text(&x86).contains("python/markupsafe/_speedups.cpython-312-aarch64-linux-gnu.so"),
        "{}",
        text(&x86)
    );
}
