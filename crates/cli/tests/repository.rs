//! `cargo lamina` on this repository's own samples: each runs from its zip with its layers,
//! as Lambda lays it out; the arm64 builds run under qemu-aarch64.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Shared with the scratch-project tests: the runtime layer is compiled once.
fn target() -> PathBuf {
    let dir = repository().join("target/scratch-projects/repository-runtime");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The function's answer, as JSON (Python's and Rust's spacing differ).
fn invoke(args: &[&str]) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_cargo-lamina"))
        .arg("lamina")
        .arg("invoke")
        .args(args)
        .current_dir(repository())
        .env("CARGO_TARGET_DIR", target())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo lamina invoke {args:?}:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn hello() -> serde_json::Value {
    serde_json::json!({"message": "Hello, Ada!"})
}

#[test]
fn every_sample_answers_on_this_machine() {
    for sample in ["sample-hello", "sample-shell"] {
        assert_eq!(invoke(&[sample, r#"{"name":"Ada"}"#]), hello(), "{sample}");
    }
    // provided.al2023 has no python3 and no perl: in the AL2023 view (the default) the
    // samples fail as on Lambda, naming the interpreter; with --host-view they run.
    for (sample, interpreter) in [("sample-python", "python3"), ("sample-perl", "perl")] {
        let output = Command::new(env!("CARGO_BIN_EXE_cargo-lamina"))
            .args(["lamina", "invoke", sample, r#"{"name":"Ada"}"#])
            .current_dir(repository())
            .env("CARGO_TARGET_DIR", target())
            .output()
            .unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert!(
            !output.status.success(),
            "{sample} ran without {interpreter}: {answer}"
        );
        assert_eq!(
            answer["errorType"], "Runtime.InterpreterNotFound",
            "{answer}"
        );
        let message = answer["errorMessage"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("`{interpreter}`")),
            "{message}"
        );
        assert_eq!(
            invoke(&[sample, "--host-view", r#"{"name":"Ada"}"#]),
            hello(),
            "{sample}"
        );
    }
    // A web function (binary `sample-http`, shipped as `bootstrap`) fed a Function URL event.
    let answer = invoke(&[
        "sample-http",
        r#"{"version":"2.0","rawPath":"/hello","rawQueryString":"name=Ada","headers":{},"requestContext":{"http":{"method":"GET","path":"/hello"},"stage":"$default"},"isBase64Encoded":false}"#,
    ]);
    assert_eq!(answer["statusCode"], 200, "{answer}");
    // Its handler.sh runs xmlstarlet from the xmlstarlet layer, with libraries from /opt/lib.
    assert_eq!(
        invoke(&["sample-xmlstarlet", r#"{"xpath":"count(//book)"}"#]),
        serde_json::json!({"xpath": "count(//book)", "result": "3"})
    );
}

#[test]
fn arm64_builds_answer_under_qemu() {
    let qemu = Command::new("qemu-aarch64").arg("--version").output();
    assert!(
        qemu.is_ok_and(|o| o.status.success()),
        "qemu-aarch64 is needed to run the arm64 builds: apt-get install qemu-user"
    );
    for sample in ["sample-hello", "sample-shell", "sample-python"] {
        assert_eq!(
            invoke(&[
                sample,
                "--arch",
                "arm64",
                "--host-view",
                r#"{"name":"Ada"}"#
            ]),
            hello(),
            "{sample}"
        );
    }
}

#[test]
fn an_arm64_only_spec_refuses_x86_64_and_an_x86_64_only_one_refuses_arm64() {
    let output = Command::new(env!("CARGO_BIN_EXE_cargo-lamina"))
        .args([
            "lamina",
            "invoke",
            "sample-xmlstarlet",
            "--arch",
            "arm64",
            "{}",
        ])
        .current_dir(repository())
        .env("CARGO_TARGET_DIR", target())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("function `sample-xmlstarlet` is not built for arm64"),
        "{stderr}"
    );
}
