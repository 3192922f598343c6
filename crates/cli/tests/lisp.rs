//! Common Lisp on lamina: `samples/sample-lisp` on the runtime and sbcl layers in the AL2023
//! view, the sbcl layer's zips (both architectures, the same bytes in every build) and
//! `cargo lamina new --template lisp`. The sbcl layer is built from Debian 12's SBCL, unpacked
//! by `layers/sbcl/debian12.sh` (which `cargo xtask ci` runs before the tests).

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{repository, target};

/// The sbcl layer's sysroots (`[elf-options] sysroot` in `layers/sbcl/layer.toml`).
const SBCL_SYSROOTS: [(&str, &str); 2] = [
    ("x86_64", "/srv/lamina/debian12-sbcl-x86_64"),
    ("arm64", "/srv/lamina/debian12-sbcl-arm64"),
];

fn require_sysroots() {
    for (arch, root) in SBCL_SYSROOTS {
        assert!(
            Path::new(root).join("usr/lib/sbcl/sbcl.core").is_file(),
            "the sbcl layer is built from {root}: run `sh layers/sbcl/debian12.sh {root} {arch}` \
             (cargo xtask ci does)"
        );
    }
}

fn lamina(dir: &Path, target: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-lamina"))
        .arg("lamina")
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn sample_lisp_answers_in_the_al2023_view_and_a_lisp_error_carries_its_condition_type() {
    require_sysroots();
    let output = lamina(
        &repository(),
        &target(),
        &["invoke", "sample-lisp", r#"{"name":"Ada"}"#],
    );
    let log = text(&output.stderr);
    assert!(output.status.success(), "{}\n{log}", text(&output.stdout));
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer, serde_json::json!({"message": "Hello, Ada!"}));
    assert!(log.contains("greeting 'Ada'"), "{log}");

    let output = lamina(&repository(), &target(), &["invoke", "sample-lisp", "{}"]);
    assert!(
        !output.status.success(),
        "an event without a name was answered"
    );
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["errorType"], "INVALID-EVENT", "{answer}");
    assert_eq!(
        answer["errorMessage"],
        r#"the event needs a "name", e.g. {"name":"Ada"}"#
    );
    let stack: Vec<&str> = answer["stackTrace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(stack.iter().any(|f| f.contains("(HANDLE ")), "{stack:?}");

    // Without the sbcl layer it fails as on Lambda, naming the interpreter.
    let output = lamina(
        &repository(),
        &target(),
        &[
            "invoke",
            "sample-lisp",
            "--layer",
            "runtime",
            r#"{"name":"Ada"}"#,
        ],
    );
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        answer["errorType"], "Runtime.InterpreterNotFound",
        "{answer}"
    );
    assert!(
        answer["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with("`sbcl`"),
        "{answer}"
    );
}

#[test]
fn the_sbcl_layer_is_the_same_bytes_in_every_build_for_both_architectures() {
    require_sysroots();
    let build = |target: &Path| {
        let output = lamina(&repository(), target, &["layer", "sbcl", "--arch", "all"]);
        assert!(output.status.success(), "{}", text(&output.stderr));
    };
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    build(first.path());
    build(second.path());
    for (arch, _) in SBCL_SYSROOTS {
        let zip = format!("layers/sbcl-{arch}.zip");
        let bytes = std::fs::read(first.path().join(&zip)).unwrap();
        assert!(
            bytes == std::fs::read(second.path().join(&zip)).unwrap(),
            "two builds of {zip} differ"
        );
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).unwrap();
        let names: Vec<String> = (0..archive.len())
            .map(|i| archive.by_index(i).unwrap().name().unwrap().into_owned())
            .collect();
        for name in [
            "bin/sbcl",
            "lib/sbcl/sbcl.core",
            "lib/sbcl/contrib/sb-posix.fasl",
        ] {
            assert!(names.iter().any(|n| n == name), "no {name} in {zip}");
        }
        let check = Command::new(env!("CARGO_BIN_EXE_cargo-lamina"))
            .args(["lamina", "check", "--arch", arch, "--kind", "layer"])
            .arg(first.path().join(&zip))
            .output()
            .unwrap();
        let report = text(&check.stdout);
        assert!(check.status.success(), "{report}{}", text(&check.stderr));
        assert!(report.contains("(glibc <= 2.34): ok"), "{report}");
    }
}

#[test]
fn the_lisp_template_builds_at_once_and_answers_on_the_sbcl_layer() {
    require_sysroots();
    let project = tempfile::Builder::new()
        .prefix("lamina-scratch-")
        .tempdir()
        .unwrap();
    let root = project.path();
    let target = repository().join("target/scratch-projects/lisp-template");
    std::fs::create_dir_all(&target).unwrap();
    let output = lamina(root, &target, &["new", "greeter", "--template", "lisp"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    // As written: it builds for both architectures on the first try.
    let output = lamina(root, &target, &["build", "greeter", "--arch", "all"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    // With the sbcl layer (as its lamina.toml says) it answers in the AL2023 view.
    let output = lamina(
        root,
        &target,
        &[
            "invoke",
            "greeter",
            "--layer",
            "runtime",
            "--layer",
            &repository().join("layers/sbcl").display().to_string(),
            r#"{"name":"Ada"}"#,
        ],
    );
    assert!(
        output.status.success(),
        "{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer, serde_json::json!({"message": "Hello, Ada!"}));
}
