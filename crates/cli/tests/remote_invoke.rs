//! `cargo lamina invoke --remote` through AWS's SDK for Rust, pointed with `AWS_ENDPOINT_URL`
//! at a `cargo lamina serve` on loopback: a buffered function through `Invoke`, and a
//! streaming one through `InvokeWithResponseStream`, printed as it arrives.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

mod common;

use std::io::BufRead as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{repository, serve, target};

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
    let mut child = remote_invoke(&served.base, &["sample-stream-shell", r#"{"steps":4}"#])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let first_at = Instant::now();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let end_at = Instant::now();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(first, "step 1 of 4\n");
    assert_eq!(
        rest.trim_end(),
        "step 2 of 4\nstep 3 of 4\nstep 4 of 4\ndone"
    );
    assert!(
        end_at - first_at >= Duration::from_millis(600),
        "first line {:?} before the end: buffered",
        end_at - first_at
    );
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
