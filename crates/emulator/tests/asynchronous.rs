//! Asynchronous (`Event`) invokes as Lambda runs them, with real processes: the 1 MB payload
//! limit, the bounded queue, retries of a failed event and the on-failure record.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{ECHO, agent, post, script, wait_until};
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig, MAX_ASYNC_PAYLOAD_BYTES};

const EVENT: (&str, &str) = ("X-Amz-Invocation-Type", "Event");

/// A JSON string of exactly `size` bytes.
fn json_of_size(size: usize) -> Vec<u8> {
    let mut payload = vec![b'a'; size];
    payload[0] = b'"';
    payload[size - 1] = b'"';
    payload
}

/// The records written to `dir` (hidden partial files excluded).
fn records(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            !path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    found.sort();
    found
}

#[test]
fn an_event_over_1_mb_is_refused_and_one_of_1_mb_is_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = r#"while true; do next; echo "size ${#EVENT}"; respond '"ok"'; done"#;
    let emulator = Emulator::start(EmulatorConfig::new(vec![FunctionConfig::new(
        "f",
        script(dir.path(), "bootstrap", body),
    )]))
    .expect("start emulator");
    let agent = agent();
    let url = emulator.invoke_url("f");

    let over = post(
        &agent,
        &url,
        &[EVENT],
        &json_of_size(MAX_ASYNC_PAYLOAD_BYTES + 1),
    );
    assert_eq!(over.status, 413, "{}", over.body);
    assert_eq!(
        over.header("x-amzn-ErrorType"),
        Some("RequestEntityTooLargeException")
    );
    insta::assert_snapshot!("event_too_large", over.body);

    let at = post(
        &agent,
        &url,
        &[EVENT],
        &json_of_size(MAX_ASYNC_PAYLOAD_BYTES),
    );
    assert_eq!(at.status, 202, "{}", at.body);
    let request_id = at
        .header("X-Amzn-RequestId")
        .expect("request id")
        .to_string();
    wait_until("the 1 MB event to run", || {
        emulator
            .logs("f")
            .contains(&format!("END RequestId: {request_id}"))
    });
    assert!(
        emulator
            .logs("f")
            .contains(&format!("size {MAX_ASYNC_PAYLOAD_BYTES}")),
        "{}",
        emulator.logs("f")
    );
    // The synchronous limit is unchanged: 1 MB + 1 is fine for RequestResponse.
    let sync = post(
        &agent,
        &url,
        &[],
        &json_of_size(MAX_ASYNC_PAYLOAD_BYTES + 1),
    );
    assert_eq!(sync.status, 200, "{}", sync.body);
}

#[test]
fn a_full_queue_answers_429_by_default_past_64_mib() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = r#"while true; do next; sleep 30; respond '"ok"'; done"#;
    let emulator = Emulator::start(EmulatorConfig::new(vec![FunctionConfig::new(
        "slow",
        script(dir.path(), "bootstrap", body),
    )]))
    .expect("start emulator");
    let agent = agent();
    let url = emulator.invoke_url("slow");
    let payload = json_of_size(MAX_ASYNC_PAYLOAD_BYTES);
    for n in 0..64 {
        let accepted = post(&agent, &url, &[EVENT], &payload);
        assert_eq!(accepted.status, 202, "event {n}: {}", accepted.body);
    }
    let refused = post(&agent, &url, &[EVENT], &payload);
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(
        refused.header("x-amzn-ErrorType"),
        Some("TooManyRequestsException")
    );
    insta::assert_snapshot!("queue_full", refused.body);
    // 64 events of 1 MiB fill the 64 MiB exactly: not even an empty event fits.
    assert_eq!(post(&agent, &url, &[EVENT], b"{}").status, 429);
}

#[test]
fn a_full_queue_frees_room_as_events_finish() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = r#"while true; do next; sleep 0.3; respond '"ok"'; done"#;
    let mut config = EmulatorConfig::new(vec![FunctionConfig::new(
        "f",
        script(dir.path(), "bootstrap", body),
    )]);
    config.async_invokes.max_queued_events = 2;
    let emulator = Emulator::start(config).expect("start emulator");
    let agent = agent();
    let url = emulator.invoke_url("f");
    assert_eq!(post(&agent, &url, &[EVENT], b"{}").status, 202);
    assert_eq!(post(&agent, &url, &[EVENT], b"{}").status, 202);
    assert_eq!(post(&agent, &url, &[EVENT], b"{}").status, 429);
    wait_until("both events to finish", || {
        emulator.logs("f").matches("END RequestId").count() == 2
    });
    assert_eq!(post(&agent, &url, &[EVENT], b"{}").status, 202);
}

/// A function that logs each attempt and fails it.
const FAILING: &str = r#"while true; do next; echo "attempt $REQUEST_ID"; fail Oops boom; done"#;

fn failing_emulator(dir: &Path, retries: u32, on_failure: &Path) -> Emulator {
    let mut config = EmulatorConfig::new(vec![FunctionConfig::new(
        "failing",
        script(dir, "bootstrap", FAILING),
    )]);
    if retries != 2 {
        config.async_invokes.retries = retries;
    }
    config.async_invokes.retry_delays = [Duration::from_millis(50), Duration::from_millis(100)];
    config.async_invokes.on_failure = Some(on_failure.to_path_buf());
    Emulator::start(config).expect("start emulator")
}

fn read_record(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("read record")).expect("record is JSON")
}

#[test]
fn a_failing_event_is_retried_twice_then_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let failed = dir.path().join("failed");
    let emulator = failing_emulator(dir.path(), 2, &failed);
    let accepted = post(
        &agent(),
        &emulator.invoke_url("failing"),
        &[EVENT],
        br#"{"order":7}"#,
    );
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let request_id = accepted.header("X-Amzn-RequestId").expect("request id");
    wait_until("the failed event's record", || !records(&failed).is_empty());
    let logs = emulator.logs("failing");
    assert_eq!(
        logs.matches(&format!("attempt {request_id}")).count(),
        3,
        "one attempt and two retries, under the same request id:\n{logs}"
    );
    let found = records(&failed);
    assert_eq!(found, vec![failed.join(format!("{request_id}.json"))]);
    let mut record = read_record(&found[0]);
    let timestamp = record["timestamp"].as_str().unwrap_or_default().to_string();
    assert!(
        timestamp.len() == 24 && timestamp.ends_with('Z'),
        "{timestamp}"
    );
    record["timestamp"] = "[timestamp]".into();
    assert_eq!(
        record,
        serde_json::json!({
            "version": "1.0",
            "timestamp": "[timestamp]",
            "requestContext": {
                "requestId": request_id,
                "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:failing:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3
            },
            "requestPayload": {"order": 7},
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled"
            },
            "responsePayload": {"errorMessage": "boom", "errorType": "Oops"}
        })
    );
    let leftovers = std::fs::read_dir(&failed).expect("read dir").count();
    assert_eq!(leftovers, 1, "no partial file is left behind");
}

#[test]
fn with_no_retries_a_failing_event_runs_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let failed = dir.path().join("failed");
    let emulator = failing_emulator(dir.path(), 0, &failed);
    let accepted = post(&agent(), &emulator.invoke_url("failing"), &[EVENT], b"{}");
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    wait_until("the failed event's record", || !records(&failed).is_empty());
    // Longer than both retry delays: a retry would have started by now.
    std::thread::sleep(Duration::from_millis(500));
    let logs = emulator.logs("failing");
    assert_eq!(logs.matches("attempt ").count(), 1, "{logs}");
    let record = read_record(&records(&failed)[0]);
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 1);
}

#[test]
fn a_successful_event_is_neither_retried_nor_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let failed = dir.path().join("failed");
    let mut config = EmulatorConfig::new(vec![FunctionConfig::new(
        "echo",
        script(dir.path(), "bootstrap", ECHO),
    )]);
    config.async_invokes.retry_delays = [Duration::from_millis(50), Duration::from_millis(100)];
    config.async_invokes.on_failure = Some(failed.clone());
    let emulator = Emulator::start(config).expect("start emulator");
    let accepted = post(&agent(), &emulator.invoke_url("echo"), &[EVENT], b"{}");
    assert_eq!(accepted.status, 202);
    wait_until("the event to run", || {
        emulator.logs("echo").contains("END RequestId")
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(emulator.logs("echo").matches("START RequestId").count(), 1);
    assert!(failed.is_dir(), "the on-failure folder is created at start");
    assert!(records(&failed).is_empty());
}

#[test]
fn retries_above_two_are_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = EmulatorConfig::new(vec![FunctionConfig::new(
        "f",
        script(dir.path(), "bootstrap", ECHO),
    )]);
    config.async_invokes.retries = 3;
    let error = Emulator::start(config).err().expect("3 retries refused");
    assert_eq!(
        error.to_string(),
        "asynchronous retries must be 0 to 2, not 3"
    );
}
