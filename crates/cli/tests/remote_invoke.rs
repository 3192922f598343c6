//! `cargo lamina invoke --remote` through AWS's SDK for Rust, pointed with `AWS_ENDPOINT_URL`
//! at a `cargo lamina serve` on loopback: a buffered function through `Invoke`, and a
//! streaming one through `InvokeWithResponseStream`, printed as it arrives.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

mod common;

use std::process::Command;

use common::{assert_steps_stream, repository, serve, target};

/// `cargo lamina invoke --remote` with `args`, its AWS endpoint the emulator at `endpoint`.
fn remote_invoke(endpoint: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cargo-lamina"));
    command
        .args(["lamina", "invoke", "--remote"])
        .args(args)
        .current_dir(repository())
        .env("CARGO_TARGET_DIR", target())
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env_remove("AWS_PROFILE");
    command
}

#[test]
fn invoke_remote_reads_a_buffered_answer_and_a_stream_as_it_arrives() {
    let served = serve(&["sample-hello", "sample-stream-shell"]);

    let output = remote_invoke(&served.base, &["sample-hello", r#"{"name":"Ada"}"#])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["message"], "Hello, Ada!");
    assert!(
        stderr.contains("REPORT RequestId: "),
        "the log tail: {stderr}"
    );

    // The spec says RESPONSE_STREAM: InvokeWithResponseStream, each line printed as it comes.
    let stderr = assert_steps_stream(&mut remote_invoke(
        &served.base,
        &["sample-stream-shell", r#"{"steps":4}"#],
    ));
    assert!(
        stderr.contains("progress.sh: step 4 done"),
        "the log tail: {stderr}"
    );

    // An unknown function is AWS's ResourceNotFoundException, said by the CLI.
    let output = remote_invoke(&served.base, &["--stream", "nope", "{}"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("ResourceNotFoundException"), "{stderr}");
}
