//! `cargo lamina` on this repository's own samples: each runs from its zip with its layers,
//! as Lambda lays it out; the arm64 builds run under qemu-aarch64.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

mod common;

use std::path::Path;
use std::process::Command;

use common::{repository, target};

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
    // provided.al2023 has no python3: in the AL2023 view (the default) the Python sample fails
    // as on Lambda, naming the interpreter; with --host-view it runs on the host's python3.
    let output = Command::new(env!("CARGO_BIN_EXE_cargo-lamina"))
        .args(["lamina", "invoke", "sample-python", r#"{"name":"Ada"}"#])
        .current_dir(repository())
        .env("CARGO_TARGET_DIR", target())
        .output()
        .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(!output.status.success(), "ran without python3: {answer}");
    assert_eq!(
        answer["errorType"], "Runtime.InterpreterNotFound",
        "{answer}"
    );
    let message = answer["errorMessage"].as_str().unwrap();
    assert!(message.starts_with("`python3`"), "{message}");
    assert_eq!(
        invoke(&["sample-python", "--host-view", r#"{"name":"Ada"}"#]),
        hello()
    );
    // A web function (binary `sample-http`, shipped as `bootstrap`) fed a Function URL event.
    let answer = invoke(&[
        "sample-http",
        r#"{"version":"2.0","rawPath":"/hello","rawQueryString":"name=Ada","headers":{},"requestContext":{"http":{"method":"GET","path":"/hello"},"stage":"$default"},"isBase64Encoded":false}"#,
    ]);
    assert_eq!(answer["statusCode"], 200, "{answer}");
    // An unchanged Python web app through the http: convention (host view: no python3 in
    // AL2023), fed a Function URL event.
    let answer = invoke(&[
        "sample-web-python",
        "--host-view",
        r#"{"version":"2.0","rawPath":"/hello","rawQueryString":"name=Ada","headers":{},"requestContext":{"http":{"method":"GET","path":"/hello"},"stage":"$default"},"isBase64Encoded":false}"#,
    ]);
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(answer["body"], "Hello, Ada!", "{answer}");
    assert_eq!(
        answer["cookies"],
        serde_json::json!(["greeted=yes; Path=/"])
    );
    // The same through a Perl web server on the perl layer, in the AL2023 view.
    let answer = invoke(&[
        "sample-web-perl",
        r#"{"version":"2.0","rawPath":"/hello","rawQueryString":"name=J%C3%BCrgen","headers":{},"requestContext":{"http":{"method":"GET","path":"/hello"},"stage":"$default"},"isBase64Encoded":false}"#,
    ]);
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(answer["body"], "Hello, Jürgen!", "{answer}");
    // A shell script whose stdout streams (stream:, RESPONSE_STREAM): all of it on stdout.
    let output = invoke_output(&["sample-stream-shell", r#"{"steps":2}"#]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim_end(),
        "step 1 of 2\nstep 2 of 2\ndone"
    );
    // Its handler.sh runs xmlstarlet from the xmlstarlet layer, with libraries from /opt/lib.
    assert_eq!(
        invoke(&["sample-xmlstarlet", r#"{"xpath":"count(//book)"}"#]),
        serde_json::json!({"xpath": "count(//book)", "result": "3"})
    );
}

#[test]
fn invoking_a_streaming_function_prints_each_chunk_as_it_arrives() {
    common::assert_steps_stream(
        Command::new(env!("CARGO_BIN_EXE_cargo-lamina"))
            .args(["lamina", "invoke", "sample-stream-shell", r#"{"steps":4}"#])
            .current_dir(repository())
            .env("CARGO_TARGET_DIR", target()),
    );
}

/// `cargo lamina invoke` with stdout and stderr, in the AL2023 view unless `args` say not.
fn invoke_output(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-lamina"))
        .arg("lamina")
        .arg("invoke")
        .args(args)
        .current_dir(repository())
        .env("CARGO_TARGET_DIR", target())
        .output()
        .unwrap()
}

/// Where `layers/perl/debian11.sh` unpacks Debian 11's perl (the perl layer's sysroot).
const PERL_SYSROOT: &str = "/srv/lamina/debian11-perl-x86_64";

#[test]
fn sample_perl_runs_on_the_perl_layer_in_the_al2023_view() {
    assert!(
        Path::new(PERL_SYSROOT).join("usr/bin/perl").is_file(),
        "the perl layer is built from {PERL_SYSROOT}: run `sh layers/perl/debian11.sh` (cargo xtask ci does)"
    );
    // The view shows the host's locales; LOCPATH hides them, as the AL2023 minimal image has
    // only C. Lambda's LANG=en_US.UTF-8 then makes a bare perl warn at every start...
    let bare = Command::new(Path::new(PERL_SYSROOT).join("usr/bin/perl"))
        .args(["-e", "exit 0"])
        .env_clear()
        .env("LANG", "en_US.UTF-8")
        .env("LOCPATH", "/nonexistent")
        .output()
        .unwrap();
    let bare = String::from_utf8_lossy(&bare.stderr);
    assert!(bare.contains("Setting locale failed"), "{bare}");
    // ...and the perl layer's env.d keeps the function's log free of it.
    let output = invoke_output(&[
        "sample-perl",
        "--env",
        "LOCPATH=/nonexistent",
        r#"{"name":"Ada"}"#,
    ]);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer, hello());
    assert!(log.contains("greeting 'Ada'"), "{log}");
    assert!(!log.contains("locale"), "{log}");

    // The same function without the perl layer fails as on Lambda, naming the interpreter.
    let output = invoke_output(&["sample-perl", "--layer", "runtime", r#"{"name":"Ada"}"#]);
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(!output.status.success(), "ran without perl: {answer}");
    assert_eq!(
        answer["errorType"], "Runtime.InterpreterNotFound",
        "{answer}"
    );
    let message = answer["errorMessage"].as_str().unwrap();
    assert!(
        message.starts_with("`perl` (needed to run /var/task/handler.pl) is not on PATH"),
        "{message}"
    );
}

#[test]
fn the_perl_layer_is_the_same_bytes_in_every_build() {
    let build = |target: &Path| {
        let output = Command::new(env!("CARGO_BIN_EXE_cargo-lamina"))
            .args(["lamina", "layer", "perl"])
            .current_dir(repository())
            .env("CARGO_TARGET_DIR", target)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::read(target.join("layers/perl-x86_64.zip")).unwrap()
    };
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let zip = build(first.path());
    assert!(
        zip == build(second.path()),
        "two builds of the perl layer differ"
    );
    // What the layer holds, and that it passes the checks a zip from any tool gets.
    let names: Vec<String> = {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&zip)).unwrap();
        (0..archive.len())
            .map(|i| archive.by_index(i).unwrap().name().unwrap().into_owned())
            .collect()
    };
    for name in [
        "bin/perl",
        "lib/libcrypt.so.1",
        "lib/perl5/base/POSIX.pm",
        "lib/perl5/share/JSON/PP.pm",
        "lamina/env.d/perl.env",
    ] {
        assert!(
            names.iter().any(|n| n == name),
            "no {name} in the perl layer"
        );
    }
    assert!(!names.iter().any(|n| n.ends_with(".pyc")));
    let check = Command::new(env!("CARGO_BIN_EXE_cargo-lamina"))
        .args(["lamina", "check", "--arch", "x86_64", "--kind", "layer"])
        .arg(first.path().join("layers/perl-x86_64.zip"))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(report.contains("(glibc <= 2.34): ok"), "{report}");
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
