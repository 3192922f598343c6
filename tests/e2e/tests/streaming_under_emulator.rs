//! A streaming lamina-runtime function under lamina-emulator, read by AWS's own client:
//! boto3's `invoke_with_response_stream` (from the moto venv `cargo xtask ci` installs;
//! `LAMINA_MOTO_VENV`, or `target/tools/moto`; `LAMINA_SKIP_MOTO=1` skips, loudly), and by a
//! plain Invoke, which gets the stream buffered as AWS gives it.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use lamina_e2e::{boto3_stream, chunks_of};
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};

const STREAM_FUNCTION: &str = env!("CARGO_BIN_EXE_e2e-stream");

fn emulator() -> Emulator {
    emulator_of(Path::new(STREAM_FUNCTION))
}

fn emulator_of(executable: &Path) -> Emulator {
    let mut config = FunctionConfig::new("stream", executable);
    config.timeout = Duration::from_secs(20);
    Emulator::start(EmulatorConfig::new(vec![config])).unwrap()
}

#[test]
fn boto3_gets_the_first_chunk_before_the_function_finishes() {
    let emulator = emulator();
    let Some(events) = boto3_stream(
        &emulator.endpoint_url(),
        "stream",
        r#"{"chunks":4,"gap_ms":400}"#,
    ) else {
        return;
    };
    assert_eq!(events[0]["content_type"], "text/plain");
    assert_eq!(events[0]["status"], 200);
    let chunks = chunks_of(&events);
    assert_eq!(chunks, ["chunk 0;", "chunk 1;", "chunk 2;", "chunk 3;"]);
    let first = events[1]["at"].as_f64().unwrap();
    let complete = events.last().unwrap();
    let last = complete["at"].as_f64().unwrap();
    // The function takes 3 × 400 ms; the first chunk must not wait for it.
    assert!(
        last - first >= 1.0,
        "first chunk at {first} s, end at {last} s: the stream was buffered"
    );
    assert!(
        complete["complete"].get("ErrorCode").is_none(),
        "{complete}"
    );
    assert!(complete["complete"]["LogResult"].is_string(), "{complete}");
}

#[test]
fn boto3_gets_a_mid_stream_error_in_invoke_complete_and_the_log_has_it() {
    let emulator = emulator();
    let Some(events) = boto3_stream(
        &emulator.endpoint_url(),
        "stream",
        r#"{"chunks":4,"gap_ms":10,"fail":true}"#,
    ) else {
        return;
    };
    let chunks = chunks_of(&events);
    assert_eq!(chunks, ["chunk 0;", "chunk 1;"]);
    let complete = &events.last().unwrap()["complete"];
    assert_eq!(complete["ErrorCode"], "Stream.Broke", "{complete}");
    assert_eq!(
        complete["ErrorDetails"], "the source went away after 2 chunks",
        "{complete}"
    );
    assert!(
        emulator
            .logs("stream")
            .contains("the source went away after 2 chunks"),
        "{}",
        emulator.logs("stream")
    );
}

#[test]
fn a_plain_invoke_gets_the_stream_buffered_and_a_mid_stream_error_as_a_function_error() {
    let emulator = emulator();
    let whole = emulator
        .invoke("stream", br#"{"chunks":3,"gap_ms":10}"#)
        .unwrap();
    assert_eq!(whole.function_error, None, "{:?}", whole.log_tail);
    assert_eq!(&whole.payload[..], b"chunk 0;chunk 1;chunk 2;");
    let failed = emulator
        .invoke("stream", br#"{"chunks":4,"gap_ms":10,"fail":true}"#)
        .unwrap();
    assert_eq!(failed.function_error.as_deref(), Some("Unhandled"));
    let error: serde_json::Value = serde_json::from_slice(&failed.payload).unwrap();
    assert_eq!(error["errorType"], "Stream.Broke", "{error}");
}

/// #19's leftover: a Rust handler that fails after its first byte with a 20,000-byte message.
/// Sent whole, its error trailer (27,000 bytes of base64) was over hyper's 16 KiB: the
/// emulator failed the invocation with Runtime.TruncatedResponse and the handler's error was
/// lost. The runtime cuts it to 8 KiB of JSON, as the bootstrap does a worker's: the caller
/// gets the handler's type, and its message cut, saying from how long; the handler ran once.
#[test]
fn a_huge_mid_stream_error_reaches_the_caller_cut_with_its_type() {
    let emulator = emulator();
    let failed = emulator
        .invoke(
            "stream",
            br#"{"chunks":4,"gap_ms":1,"fail":true,"fail_message_bytes":20000}"#,
        )
        .unwrap();
    assert_eq!(failed.function_error.as_deref(), Some("Unhandled"));
    let error: serde_json::Value = serde_json::from_slice(&failed.payload).unwrap();
    assert_eq!(error["errorType"], "Stream.Broke", "{error}");
    let message = error["errorMessage"].as_str().unwrap();
    let kept = message.trim_start_matches('x');
    assert!(
        message.len() - kept.len() > 4_000,
        "{} x kept",
        message.len() - kept.len()
    );
    assert!(kept.starts_with(" ... [cut from 20000 bytes"), "{kept}");
    assert_eq!(
        emulator.logs("stream").matches("START RequestId").count(),
        1,
        "{}",
        emulator.logs("stream")
    );
}

/// crates.io's `lambda_runtime` (its basic-streaming-response example, `bench/peer-stream`),
/// built release as its users build it.
fn lambda_runtime_streaming_function() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap();
    let target = workspace.join("target/bench/peer-stream");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--quiet",
            "--release",
            "--locked",
            "--manifest-path",
        ])
        .arg(workspace.join("bench/peer-stream/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status()
        .unwrap();
    assert!(status.success(), "building bench/peer-stream");
    target.join("release/bootstrap")
}

#[test]
fn a_lambda_runtime_stream_response_streams_through_the_emulator() {
    let emulator = emulator_of(&lambda_runtime_streaming_function());
    let Some(events) = boto3_stream(&emulator.endpoint_url(), "stream", "{}") else {
        return;
    };
    // lambda_runtime answers every stream as an HTTP integration response (a JSON prelude and
    // 8 NULs, which a Function URL turns into status and headers); InvokeWithResponseStream
    // passes the bytes on as they are, prelude included, as AWS does.
    assert_eq!(
        events[0]["content_type"],
        "application/vnd.awslambda.http-integration-response"
    );
    let chunks = chunks_of(&events).concat();
    let (prelude, body) = chunks.split_once("\0\0\0\0\0\0\0\0").unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(prelude).unwrap()["statusCode"],
        200
    );
    assert_eq!(body, "Hello\nworld\nfrom\nLambda!\n");
    let first = events[1]["at"].as_f64().unwrap();
    let end = events.last().unwrap()["at"].as_f64().unwrap();
    assert!(
        end - first >= 0.6,
        "first chunk at {first} s, end at {end} s: buffered"
    );
    assert!(
        events.last().unwrap()["complete"]
            .get("ErrorCode")
            .is_none()
    );
}

#[test]
fn a_response_stream_function_url_streams_to_an_http_client() {
    let mut config = FunctionConfig::new("stream", lambda_runtime_streaming_function());
    config.timeout = Duration::from_secs(20);
    config.response_streaming = true;
    let emulator = Emulator::start(EmulatorConfig::new(vec![config])).unwrap();
    let started = std::time::Instant::now();
    let mut response = ureq::get(format!("{}/lambda-url/stream/", emulator.endpoint_url()))
        .call()
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut reader = response.body_mut().as_reader();
    let mut first = [0u8; 6];
    std::io::Read::read_exact(&mut reader, &mut first).unwrap();
    let first_at = started.elapsed();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
    let end_at = started.elapsed();
    // The prelude became the status and headers; the body is what the function wrote.
    assert_eq!(
        format!("{}{rest}", String::from_utf8_lossy(&first)),
        "Hello\nworld\nfrom\nLambda!\n"
    );
    assert!(
        end_at - first_at >= Duration::from_millis(600),
        "first bytes at {first_at:?}, end at {end_at:?}: buffered"
    );
}

#[test]
fn a_stream_that_outlives_its_timeout_ends_with_the_timeout_and_the_next_call_is_served() {
    let mut config = FunctionConfig::new("stream", Path::new(STREAM_FUNCTION));
    config.timeout = Duration::from_secs(1);
    let emulator = Emulator::start(EmulatorConfig::new(vec![config])).unwrap();
    let Some(events) = boto3_stream(
        &emulator.endpoint_url(),
        "stream",
        r#"{"chunks":6,"gap_ms":400}"#,
    ) else {
        return;
    };
    let chunks = chunks_of(&events);
    // Chunks at 0, 0.4 and 0.8 s leave before the 1 s deadline; the rest never come.
    assert_eq!(chunks, ["chunk 0;", "chunk 1;", "chunk 2;"], "{events:?}");
    let complete = &events.last().unwrap()["complete"];
    assert_eq!(complete["ErrorCode"], "Sandbox.Timedout", "{complete}");
    let details = complete["ErrorDetails"].as_str().unwrap();
    assert!(
        details.ends_with("Error: Task timed out after 1.00 seconds"),
        "{complete}"
    );
    let logs = emulator.logs("stream");
    assert!(logs.contains("Task timed out after 1.00 seconds"), "{logs}");
    // Its memory was measured before it was killed, not read from a process already gone.
    let report = logs
        .lines()
        .find(|l| l.contains("Status: timeout"))
        .unwrap();
    assert!(!report.contains("Max Memory Used: 0 MB"), "{report}");
    let next = emulator
        .invoke("stream", br#"{"chunks":2,"gap_ms":0}"#)
        .unwrap();
    assert_eq!(next.function_error, None, "{:?}", next.log_tail);
    assert_eq!(&next.payload[..], b"chunk 0;chunk 1;");
}

#[test]
fn the_emulator_library_hands_each_chunk_over_as_it_arrives() {
    let emulator = emulator();
    let started = std::time::Instant::now();
    let mut chunks = Vec::new();
    let whole = emulator
        .invoke_stream(
            "stream",
            br#"{"chunks":3,"gap_ms":300}"#,
            &mut |chunk: &[u8]| chunks.push((started.elapsed(), chunk.to_vec())),
        )
        .unwrap();
    assert_eq!(whole.function_error, None, "{:?}", whole.log_tail);
    assert!(whole.payload.is_empty());
    let texts: Vec<&[u8]> = chunks.iter().map(|(_, c)| c.as_slice()).collect();
    assert_eq!(texts, [&b"chunk 0;"[..], b"chunk 1;", b"chunk 2;"]);
    assert!(
        chunks[2].0 - chunks[0].0 >= Duration::from_millis(500),
        "{chunks:?}: handed over at the end"
    );

    let mut chunks = Vec::new();
    let failed = emulator
        .invoke_stream(
            "stream",
            br#"{"chunks":4,"gap_ms":10,"fail":true}"#,
            &mut |chunk: &[u8]| chunks.push(chunk.to_vec()),
        )
        .unwrap();
    assert_eq!(chunks, [b"chunk 0;".to_vec(), b"chunk 1;".to_vec()]);
    assert_eq!(failed.function_error.as_deref(), Some("Unhandled"));
    let error: serde_json::Value = serde_json::from_slice(&failed.payload).unwrap();
    assert_eq!(error["errorType"], "Stream.Broke", "{error}");
}
