//! lamina's `InvokeWithResponseStream` framing read by AWS's own decoder: botocore's
//! `EventStream` with the Lambda service model, as `boto3`'s `invoke_with_response_stream`
//! reads a real answer. botocore comes with the moto venv `cargo xtask ci` installs
//! (`LAMINA_MOTO_VENV`, or `target/tools/moto`; `LAMINA_SKIP_MOTO=1` skips, loudly).

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use lamina_emulator::event_stream::{InvokeComplete, MAX_CHUNK_BYTES, payload_chunks};

fn python() -> Option<PathBuf> {
    let venv = std::env::var_os("LAMINA_MOTO_VENV").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .nth(2)
                .unwrap()
                .join("target/tools/moto")
        },
        PathBuf::from,
    );
    let python = venv.join("bin/python");
    if python.exists() {
        return Some(python);
    }
    if std::env::var("LAMINA_SKIP_MOTO").as_deref() == Ok("1") {
        eprintln!(
            "SKIPPED: no botocore at {} and LAMINA_SKIP_MOTO=1",
            venv.display()
        );
        return None;
    }
    panic!(
        "botocore is not installed at {}: run `cargo xtask ci --prerequisites-only` (or set LAMINA_SKIP_MOTO=1)",
        venv.display()
    );
}

/// Feeds `stream` to botocore's parser for Lambda's InvokeWithResponseStream and returns
/// the events as it prints them, one per line.
const READ_WITH_BOTOCORE: &str = r#"
import sys, botocore.session
from botocore.eventstream import EventStream
from botocore.parsers import EventStreamJSONParser
model = botocore.session.get_session().get_service_model("lambda")
shape = model.operation_model("InvokeWithResponseStream").output_shape.members["EventStream"]
class Raw:
    def __init__(self, data): self.data = data
    def stream(self):
        for i in range(0, len(self.data), 1000): yield self.data[i:i + 1000]
    def close(self): pass
for event in EventStream(Raw(sys.stdin.buffer.read()), shape, EventStreamJSONParser(), "InvokeWithResponseStream"):
    if "PayloadChunk" in event:
        print("chunk", len(event["PayloadChunk"]["Payload"]), event["PayloadChunk"]["Payload"][:12])
    else:
        print("complete", sorted(event["InvokeComplete"].items()))
"#;

fn botocore_reads(stream: &[u8]) -> Option<String> {
    let python = python()?;
    let mut child = Command::new(python)
        .args(["-c", READ_WITH_BOTOCORE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stream).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "botocore refused the stream: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8(output.stdout).unwrap())
}

#[test]
fn botocore_reads_the_chunks_and_the_completion() {
    let mut payload = b"first bytes ".to_vec();
    payload.extend(std::iter::repeat_n(b'x', MAX_CHUNK_BYTES));
    let mut stream = payload_chunks(&payload);
    stream.extend(InvokeComplete::default().encode());
    let Some(read) = botocore_reads(&stream) else {
        return;
    };
    assert_eq!(
        read,
        format!("chunk {MAX_CHUNK_BYTES} b'first bytes '\nchunk 12 b'xxxxxxxxxxxx'\ncomplete []\n")
    );
}

#[test]
fn botocore_reads_a_mid_stream_error_with_its_code_details_and_log() {
    let mut stream = payload_chunks(b"partial");
    stream.extend(
        InvokeComplete {
            error_code: Some("Stream.Broke".into()),
            error_details: Some(r#"{"errorMessage":"the source went away"}"#.into()),
            log_result: Some("U1RBUlQ=".into()),
        }
        .encode(),
    );
    let Some(read) = botocore_reads(&stream) else {
        return;
    };
    assert_eq!(
        read,
        "chunk 7 b'partial'\ncomplete [('ErrorCode', 'Stream.Broke'), ('ErrorDetails', '{\"errorMessage\":\"the source went away\"}'), ('LogResult', 'U1RBUlQ=')]\n"
    );
}
