//! `Runtime::concurrent` under the emulator with `max_concurrency = 8` (Lambda Managed Instances):
//! 1,000 invocations from 16 callers into one process, none lost or crossed, several at once,
//! one process throughout, and a panic in one slot failing only its own invocation.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};
use serde_json::Value;

const FUNCTION: &str = env!("CARGO_BIN_EXE_e2e-concurrent");
const INVOCATIONS: u64 = 1000;

#[test]
fn a_thousand_invocations_at_eight_slots_into_one_process() {
    let mut config = FunctionConfig::new("slots", FUNCTION);
    config.timeout = Duration::from_secs(30);
    config.max_concurrency = 8;
    let emulator = Emulator::start(EmulatorConfig::new(vec![config])).unwrap();
    let url = emulator.invoke_url("slots");
    let next = AtomicU64::new(0);
    let answers: Vec<(u64, Option<String>, Value, String)> = std::thread::scope(|scope| {
        let callers: Vec<_> = (0..16)
            .map(|_| {
                scope.spawn(|| {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .timeout_global(Some(Duration::from_secs(60)))
                        .build()
                        .into();
                    let mut answers = Vec::new();
                    loop {
                        let n = next.fetch_add(1, Ordering::SeqCst);
                        if n >= INVOCATIONS {
                            return answers;
                        }
                        let mut response =
                            agent.post(&url).send(format!(r#"{{"n":{n}}}"#)).unwrap();
                        let error = response
                            .headers()
                            .get("X-Amz-Function-Error")
                            .map(|v| v.to_str().unwrap().to_string());
                        let id = response.headers()["X-Amzn-RequestId"]
                            .to_str()
                            .unwrap()
                            .to_string();
                        let body: Value =
                            serde_json::from_str(&response.body_mut().read_to_string().unwrap())
                                .unwrap();
                        answers.push((n, error, body, id));
                    }
                })
            })
            .collect();
        callers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect()
    });
    assert_eq!(answers.len() as u64, INVOCATIONS, "none lost");
    let mut pids = HashSet::new();
    let mut peak = 0;
    for (n, error, body, request_id) in &answers {
        if *n == 500 {
            assert_eq!(error.as_deref(), Some("Unhandled"), "{body}");
            assert_eq!(body["errorType"], "Runtime.HandlerPanic", "{body}");
            continue;
        }
        assert_eq!(error, &None, "n = {n}: {body}");
        assert_eq!(body["n"], *n, "crossed: {body}");
        assert_eq!(body["request_id"], request_id.as_str(), "crossed: {body}");
        pids.insert(body["pid"].as_u64().unwrap());
        peak = peak.max(body["peak"].as_u64().unwrap());
    }
    assert_eq!(pids.len(), 1, "one process throughout: {pids:?}");
    assert!(
        (2..=8).contains(&peak),
        "invocations at once in the process peaked at {peak}"
    );
}
