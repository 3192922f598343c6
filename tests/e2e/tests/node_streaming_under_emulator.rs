//! A Node.js function streaming with `awslambda.streamifyResponse`, run by AWS's own Node.js
//! runtime interface client (npm's `aws-lambda-ric`, which `cargo xtask ci` builds into
//! `target/tools/aws-lambda-ric`; `LAMINA_NODE_RIC` names another copy,
//! `LAMINA_SKIP_NODE_RIC=1` skips, loudly) under lamina-emulator, and read by boto3's
//! `invoke_with_response_stream`, a plain Invoke and a Function URL.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use lamina_e2e::{boto3_stream, chunks_of, workspace};
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};

/// The handler: chunks with pauses between them, failing at `fail_at` if asked; as an HTTP
/// response with a status when invoked through a Function URL.
const INDEX_MJS: &str = r#"
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export const handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  if (event.requestContext && event.requestContext.http) {
    responseStream = awslambda.HttpResponseStream.from(responseStream, {
      statusCode: 201,
      headers: { "content-type": "text/plain", "x-from": "node" },
    });
    event = { chunks: 4, gap_ms: 300 };
  } else {
    responseStream.setContentType("text/plain");
  }
  for (let i = 0; i < event.chunks; i++) {
    if (i === event.fail_at) {
      throw new Error(`the source went away after ${i} chunks`);
    }
    responseStream.write(`chunk ${i};`);
    await pause(event.gap_ms);
  }
  responseStream.end();
});
"#;

/// aws-lambda-ric's folder, or `None` when skipped.
fn ric() -> Option<PathBuf> {
    let ric = std::env::var_os("LAMINA_NODE_RIC").map_or_else(
        || workspace().join("target/tools/aws-lambda-ric/node_modules/aws-lambda-ric"),
        PathBuf::from,
    );
    if ric.join("dist/rapid-client.node").is_file() {
        return Some(ric);
    }
    if std::env::var("LAMINA_SKIP_NODE_RIC").as_deref() == Ok("1") {
        eprintln!(
            "SKIPPED: no aws-lambda-ric at {} and LAMINA_SKIP_NODE_RIC=1",
            ric.display()
        );
        return None;
    }
    panic!(
        "aws-lambda-ric is not built at {}: run `cargo xtask ci --prerequisites-only` (or set LAMINA_SKIP_NODE_RIC=1)",
        ric.display()
    );
}

/// The function's folder (`index.mjs` and a `bootstrap` that starts the RIC, as a
/// `provided.al2023` Node.js function's does) and the emulator running it.
fn emulator(ric: &std::path::Path, url_streaming: bool) -> (tempfile::TempDir, Emulator) {
    let task_root = tempfile::tempdir().unwrap();
    std::fs::write(task_root.path().join("index.mjs"), INDEX_MJS).unwrap();
    let bootstrap = task_root.path().join("bootstrap");
    std::fs::write(
        &bootstrap,
        format!(
            "#!/bin/sh\nexec node {}/bin/index.mjs index.handler\n",
            ric.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &bootstrap,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut config = FunctionConfig::new("node", &bootstrap);
    config.task_root = task_root.path().to_path_buf();
    config.handler = "index.handler".into();
    config.timeout = Duration::from_secs(20);
    config.response_streaming = url_streaming;
    let emulator = Emulator::start(EmulatorConfig::new(vec![config])).unwrap();
    (task_root, emulator)
}

#[test]
fn boto3_reads_a_streamify_response_stream_as_it_is_written() {
    let Some(ric) = ric() else { return };
    let (_root, emulator) = emulator(&ric, false);
    let Some(events) = boto3_stream(
        &emulator.endpoint_url(),
        "node",
        r#"{"chunks":4,"gap_ms":400}"#,
    ) else {
        return;
    };
    assert_eq!(events[0]["content_type"], "text/plain", "{events:?}");
    let chunks = chunks_of(&events).concat();
    assert_eq!(chunks, "chunk 0;chunk 1;chunk 2;chunk 3;");
    let first = events[1]["at"].as_f64().unwrap();
    let complete = events.last().unwrap();
    let end = complete["at"].as_f64().unwrap();
    assert!(
        end - first >= 1.0,
        "first chunk at {first} s, end at {end} s: the stream was buffered"
    );
    assert!(
        complete["complete"].get("ErrorCode").is_none(),
        "{complete}"
    );
}

#[test]
fn a_streamify_response_error_mid_stream_reaches_boto3_and_a_plain_invoke() {
    let Some(ric) = ric() else { return };
    let (_root, emulator) = emulator(&ric, false);
    let payload = r#"{"chunks":4,"gap_ms":10,"fail_at":2}"#;
    if let Some(events) = boto3_stream(&emulator.endpoint_url(), "node", payload) {
        let chunks = chunks_of(&events).concat();
        assert_eq!(chunks, "chunk 0;chunk 1;");
        let complete = &events.last().unwrap()["complete"];
        assert_eq!(complete["ErrorCode"], "Error", "{complete}");
        assert!(
            complete["ErrorDetails"]
                .as_str()
                .unwrap()
                .contains("the source went away after 2 chunks"),
            "{complete}"
        );
    }
    // A plain Invoke of the same function gets the whole stream, buffered, as on AWS.
    let whole = emulator
        .invoke("node", br#"{"chunks":3,"gap_ms":10}"#)
        .unwrap();
    assert_eq!(whole.function_error, None, "{:?}", whole.log_tail);
    assert_eq!(&whole.payload[..], b"chunk 0;chunk 1;chunk 2;");
    let failed = emulator.invoke("node", payload.as_bytes()).unwrap();
    assert_eq!(failed.function_error.as_deref(), Some("Unhandled"));
}

#[test]
fn a_streamify_response_function_url_streams_with_its_status_and_headers() {
    let Some(ric) = ric() else { return };
    let (_root, emulator) = emulator(&ric, true);
    let started = Instant::now();
    let mut response = ureq::get(format!("{}/lambda-url/node/", emulator.endpoint_url()))
        .call()
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-from"], "node");
    let mut reader = response.body_mut().as_reader();
    let mut first = [0u8; 8];
    reader.read_exact(&mut first).unwrap();
    let first_at = started.elapsed();
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    let end_at = started.elapsed();
    assert_eq!(
        format!("{}{rest}", String::from_utf8_lossy(&first)),
        "chunk 0;chunk 1;chunk 2;chunk 3;"
    );
    assert!(
        end_at - first_at >= Duration::from_millis(600),
        "first bytes at {first_at:?}, end at {end_at:?}: buffered"
    );
}
