//! Several invocations at once through one bootstrap (`AWS_LAMBDA_MAX_CONCURRENCY`): a pool
//! of real Python workers, one per slot, each invocation on a worker of its own.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;

use common::{Function, SAFETY, context};
use lamina_bootstrap::Pool;
use serde_json::Value;

const SLOTS: usize = 4;
const PER_SLOT: usize = 25;

const PYTHON: &str = r#"
import os, time

def handle(event, context):
    if event.get("crash"):
        os._exit(3)
    time.sleep(0.005)
    return {"pid": os.getpid(), "request_id": context.aws_request_id, "n": event["n"]}
"#;

#[test]
fn each_slot_has_its_own_worker_and_no_answer_crosses() {
    let function = Function::new();
    function.file("handler.py", PYTHON, 0o644);
    let handlers = (0..SLOTS)
        .map(|_| function.load("handler.handle").unwrap())
        .collect();
    let pool = Pool::new(handlers);
    let answers: Vec<Value> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..SLOTS)
            .map(|slot| {
                let pool = &pool;
                scope.spawn(move || {
                    let mut answers = Vec::new();
                    for i in 0..PER_SLOT {
                        let n = slot * PER_SLOT + i;
                        let request_id = format!("req-{n}");
                        let crash = n == 7;
                        let event = format!(r#"{{"n":{n},"crash":{crash}}}"#);
                        let result = pool.invoke(event.as_bytes(), &context(&request_id, SAFETY));
                        if crash {
                            let error = result.unwrap_err();
                            assert_eq!(error.error_type, "Runtime.ExitError", "{error:?}");
                            continue;
                        }
                        let answer: Value = serde_json::from_slice(&result.unwrap()).unwrap();
                        assert_eq!(answer["request_id"], request_id.as_str(), "crossed");
                        assert_eq!(answer["n"], n, "crossed");
                        answers.push(answer);
                    }
                    answers
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    });
    assert_eq!(answers.len(), SLOTS * PER_SLOT - 1);
    let mut per_worker: HashMap<u64, usize> = HashMap::new();
    for answer in &answers {
        *per_worker
            .entry(answer["pid"].as_u64().unwrap())
            .or_default() += 1;
    }
    // SLOTS workers, plus the one that replaced the worker that crashed.
    assert!(
        (SLOTS..=SLOTS + 1).contains(&per_worker.len()),
        "workers used: {per_worker:?}"
    );
}
