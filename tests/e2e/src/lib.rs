//! End-to-end tests of `lamina-runtime` under `lamina-emulator`, with real processes and real
//! HTTP. The functions under test are this package's binaries (`src/bin`); the tests are in
//! `tests/`. Nothing here is meant to be used as a library.
//!
//! The library part is the support the tests share: AWS's own clients (boto3 reading a
//! response stream, the AWS CLI), and where the tools `cargo xtask ci` installs are found.

// Test support: a missing tool or a failed client must stop the test loudly.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's root.
pub fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
}

/// The Python of the moto venv `cargo xtask ci` installs (`LAMINA_MOTO_VENV`, or
/// `target/tools/moto`), which has boto3; `None` (said loudly) with `LAMINA_SKIP_MOTO=1`.
pub fn boto3_python() -> Option<PathBuf> {
    in_moto_venv("python", "boto3")
}

/// AWS CLI v1 (`aws`), from the same venv as [`boto3_python`], skipped the same way.
pub fn aws_cli() -> Option<PathBuf> {
    in_moto_venv("aws", "the AWS CLI")
}

fn in_moto_venv(program: &str, what: &str) -> Option<PathBuf> {
    let venv = std::env::var_os("LAMINA_MOTO_VENV")
        .map_or_else(|| workspace().join("target/tools/moto"), PathBuf::from);
    let path = venv.join("bin").join(program);
    if path.exists() {
        return Some(path);
    }
    if std::env::var("LAMINA_SKIP_MOTO").as_deref() == Ok("1") {
        eprintln!(
            "SKIPPED: no {what} at {} and LAMINA_SKIP_MOTO=1",
            venv.display()
        );
        return None;
    }
    panic!(
        "{what} is not installed at {}: run `cargo xtask ci --prerequisites-only` (or set LAMINA_SKIP_MOTO=1)",
        venv.display()
    );
}

/// boto3 reading the stream: one line per event with the seconds since the call started.
const BOTO3_STREAM: &str = r#"
import json, sys, time, boto3
from botocore.config import Config
client = boto3.client("lambda", endpoint_url=sys.argv[1], region_name="us-east-1",
    aws_access_key_id="x", aws_secret_access_key="x",
    config=Config(retries={"max_attempts": 1}, read_timeout=60))
start = time.monotonic()
answer = client.invoke_with_response_stream(FunctionName=sys.argv[2], Payload=sys.argv[3], LogType="Tail")
print(json.dumps({"content_type": answer["ResponseStreamContentType"], "status": answer["StatusCode"]}))
for event in answer["EventStream"]:
    at = round(time.monotonic() - start, 3)
    if "PayloadChunk" in event:
        print(json.dumps({"at": at, "chunk": event["PayloadChunk"]["Payload"].decode()}))
    else:
        print(json.dumps({"at": at, "complete": event["InvokeComplete"]}))
"#;

/// Calls `invoke_with_response_stream` on `function` at `endpoint` with boto3 and returns
/// what it read: first `{"content_type","status"}`, then one `{"at","chunk"}` per
/// `PayloadChunk` and `{"at","complete"}` for `InvokeComplete`, `at` in seconds since the
/// call. `None` when boto3 is skipped.
pub fn boto3_stream(
    endpoint: &str,
    function: &str,
    payload: &str,
) -> Option<Vec<serde_json::Value>> {
    boto3_lines(BOTO3_STREAM, &[endpoint, function, payload])
}

/// The `PayloadChunk` texts of what [`boto3_stream`] read, in order.
pub fn chunks_of(events: &[serde_json::Value]) -> Vec<&str> {
    events
        .iter()
        .skip(1)
        .filter_map(|e| e["chunk"].as_str())
        .collect()
}

/// Runs the Python `script` with boto3 at hand and `args` as `sys.argv[1..]`, and returns
/// each line it printed as JSON. `None` when boto3 is skipped.
pub fn boto3_lines(script: &str, args: &[&str]) -> Option<Vec<serde_json::Value>> {
    let python = boto3_python()?;
    let output = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "boto3 failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect(),
    )
}
