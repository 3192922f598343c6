//! `cargo lamina serve` with the asynchronous-invocation flags, as a user runs it: a failing
//! function given by `--bootstrap`, an `Event` invoke over loopback, the retries counted in
//! the function's log and the event's record in the `--on-failure` folder.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Logs each attempt on stdout (copied to serve's stderr) and fails it.
const FAILING: &str = r#"#!/bin/sh
API="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
while true; do
  REQUEST_ID=$(curl -sS -D - -o /dev/null "$API/invocation/next" \
    | tr -d '\r' | sed -n 's/^[Ll]ambda-[Rr]untime-[Aa]ws-[Rr]equest-[Ii]d: //p')
  echo "attempt $REQUEST_ID"
  curl -sS -o /dev/null -X POST --data-binary '{"errorMessage":"boom","errorType":"Oops"}' \
    "$API/invocation/$REQUEST_ID/error"
done
"#;

struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &Path, args: &[&str]) -> (Serving, String, Arc<Mutex<String>>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cargo-lamina"))
        .arg("lamina")
        .arg("serve")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = Arc::new(Mutex::new(String::new()));
    let collected = Arc::clone(&stderr);
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let mut text = collected.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let endpoint = loop {
        let Some(Ok(line)) = lines.next() else {
            panic!("serve exited: {}", stderr.lock().unwrap());
        };
        if let Some(url) = line.strip_prefix("Invoke API: ") {
            break url.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines.by_ref() {});
    (Serving(child), endpoint, stderr)
}

#[test]
fn serve_retries_a_failed_event_and_writes_it_to_the_on_failure_folder() {
    let dir = tempfile::tempdir().unwrap();
    let bootstrap = dir.path().join("failing.sh");
    std::fs::write(&bootstrap, FAILING).unwrap();
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
    let failed = dir.path().join("failed");
    let (_serving, endpoint, stderr) = serve(
        dir.path(),
        &[
            "--port",
            "0",
            "--bootstrap",
            "failing.sh",
            "--async-retries",
            "1",
            "--async-retry-delay",
            "0.05",
            "--on-failure",
            "failed",
        ],
    );
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build(),
    );
    let response = agent
        .post(format!(
            "{endpoint}/2015-03-31/functions/failing/invocations"
        ))
        .header("X-Amz-Invocation-Type", "Event")
        .send(r#"{"order":7}"#)
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let request_id = response
        .headers()
        .get("x-amzn-requestid")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let record = failed.join(format!("{request_id}.json"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !record.is_file() {
        assert!(
            Instant::now() < deadline,
            "no record in {}; serve said:\n{}",
            failed.display(),
            stderr.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    assert_eq!(json["requestContext"]["approximateInvokeCount"], 2);
    assert_eq!(json["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(json["requestPayload"], serde_json::json!({"order": 7}));
    assert_eq!(json["responsePayload"]["errorType"], "Oops");
    let logs = stderr.lock().unwrap().clone();
    assert_eq!(
        logs.matches(&format!("attempt {request_id}")).count(),
        2,
        "one attempt and one retry:\n{logs}"
    );
}

#[test]
fn serve_refuses_more_than_two_retries() {
    let output = Command::new(env!("CARGO_BIN_EXE_cargo-lamina"))
        .args(["lamina", "serve", "--async-retries", "3"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--async-retries <N>") && stderr.contains("3 is not in 0..=2"),
        "{stderr}"
    );
}
