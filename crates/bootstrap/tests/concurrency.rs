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

/// A threaded web app whose requests each wait until `together` of them are in flight at
/// once (a barrier): served one at a time, they would fail instead of waiting for ever.
const WEB_APP: &str = r#"
import json, os, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

barrier = threading.Barrier(4, timeout=10)

class App(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        event = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        if event.get("together"):
            barrier.wait()
        if event.get("drop"):
            raise RuntimeError("this request breaks the handler; the connection is dropped")
        time.sleep(event.get("sleep", 0))
        body = json.dumps({"pid": os.getpid(), "n": event["n"]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), App).serve_forever()
"#;

#[test]
fn an_http_server_is_shared_by_every_slot_and_serves_them_at_once() {
    let function = Function::new();
    function.file("app.py", WEB_APP, 0o644);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let handlers = lamina_bootstrap::load_handlers(
        Some(&format!("http:{port}:python3 app.py")),
        &function.settings(),
        std::sync::Arc::new(function.environment()),
        &function.log,
        SLOTS,
    )
    .unwrap();
    let pool = Pool::new(handlers);
    let invoke = |n: usize, event: String, timeout| {
        pool.invoke(event.as_bytes(), &context(&format!("req-{n}"), timeout))
    };
    // Four at once, each held until all four are in the server together.
    let pids: Vec<u64> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..SLOTS)
            .map(|n| {
                let invoke = &invoke;
                scope.spawn(move || {
                    let answer = invoke(n, format!(r#"{{"n":{n},"together":true}}"#), SAFETY);
                    let answer: Value = serde_json::from_slice(&answer.unwrap()).unwrap();
                    assert_eq!(answer["n"], n, "crossed");
                    answer["pid"].as_u64().unwrap()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert!(
        pids.windows(2).all(|w| w[0] == w[1]),
        "one server: {pids:?}"
    );
    // One request that overruns its deadline is given up; the server, busy with another
    // slot's request meanwhile, is not killed under it.
    std::thread::scope(|scope| {
        let slow = scope.spawn(|| {
            invoke(
                100,
                r#"{"n":100,"sleep":3}"#.into(),
                std::time::Duration::from_millis(600),
            )
        });
        let other = invoke(101, r#"{"n":101,"sleep":1}"#.into(), SAFETY);
        let other: Value = serde_json::from_slice(&other.unwrap()).unwrap();
        assert_eq!(other["pid"], pids[0]);
        let error = slow.join().unwrap().unwrap_err();
        assert_eq!(error.error_type, "Runtime.HandlerTimeout", "{error:?}");
        assert!(error.message.contains("keeps running"), "{error:?}");
    });
    // A request whose connection the server drops (an error in its handler thread) fails
    // alone; the server keeps serving.
    let error = invoke(103, r#"{"n":103,"drop":true}"#.into(), SAFETY).unwrap_err();
    assert!(error.message.contains("keeps running"), "{error:?}");
    let after = invoke(102, r#"{"n":102}"#.into(), SAFETY).unwrap();
    let after: Value = serde_json::from_slice(&after).unwrap();
    assert_eq!(after["pid"], pids[0], "the server was restarted");
}
