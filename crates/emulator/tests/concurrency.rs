//! Many callers, several instances: every invocation answered once, with its own answer.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::thread;

use common::{agent, post, script};
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};

const INVOCATIONS: usize = 1000;
const CLIENT_THREADS: usize = 8;
const CONCURRENCY: usize = 4;

#[test]
fn a_thousand_invocations_at_concurrency_4_none_lost_none_doubled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = r#"while true; do next; respond "{\"pid\":$$,\"event\":$EVENT}"; done"#;
    let mut function = FunctionConfig::new("echo", script(dir.path(), "bootstrap", body));
    function.concurrency = CONCURRENCY;
    function.timeout = std::time::Duration::from_secs(30);
    let emulator = Arc::new(Emulator::start(EmulatorConfig::new(vec![function])).expect("start"));

    let workers: Vec<_> = (0..CLIENT_THREADS)
        .map(|worker| {
            let url = emulator.invoke_url("echo");
            thread::spawn(move || {
                let agent = agent();
                let mut answers = Vec::new();
                for n in (worker..INVOCATIONS).step_by(CLIENT_THREADS) {
                    let payload = format!(r#"{{"n":{n},"from":"worker {worker}"}}"#);
                    let answer = post(&agent, &url, &[], payload.as_bytes());
                    assert_eq!(answer.status, 200, "{n}: {}", answer.body);
                    assert_eq!(
                        answer.header("X-Amz-Function-Error"),
                        None,
                        "{n}: {}",
                        answer.body
                    );
                    let request_id = answer
                        .header("X-Amzn-RequestId")
                        .expect("request id")
                        .to_string();
                    answers.push((n, payload, request_id, answer.body));
                }
                answers
            })
        })
        .collect();

    let mut numbers = HashSet::new();
    let mut request_ids = HashSet::new();
    let mut per_process: HashMap<u64, usize> = HashMap::new();
    for worker in workers {
        for (n, payload, request_id, body) in worker.join().expect("worker") {
            let answer: serde_json::Value = serde_json::from_str(&body).expect("JSON answer");
            let sent: serde_json::Value = serde_json::from_str(&payload).expect("JSON payload");
            assert_eq!(
                answer["event"], sent,
                "invocation {n} got another invocation's answer"
            );
            assert!(numbers.insert(n), "invocation {n} answered twice");
            assert!(request_ids.insert(request_id), "request id reused");
            *per_process
                .entry(answer["pid"].as_u64().expect("pid"))
                .or_default() += 1;
        }
    }
    assert_eq!(numbers.len(), INVOCATIONS);
    assert!(
        per_process.len() <= CONCURRENCY,
        "{} processes for concurrency {CONCURRENCY}",
        per_process.len()
    );

    let logs = emulator.logs("echo");
    let count = |prefix: &str| logs.lines().filter(|l| l.starts_with(prefix)).count();
    assert_eq!(count("START RequestId: "), INVOCATIONS);
    assert_eq!(count("END RequestId: "), INVOCATIONS);
    assert_eq!(count("REPORT RequestId: "), INVOCATIONS);
    // Each instance reports its init exactly once.
    let inits = logs.lines().filter(|l| l.contains("Init Duration")).count();
    assert_eq!(inits, per_process.len());
}
