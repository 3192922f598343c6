//! `Lambda-Runtime-Invocation-Id` (issue #23): every delivery carries a fresh nonce, distinct
//! from the request id; a runtime that echoes it on `/response`, `/error` or a streamed
//! response is held to it, so a timed-out invocation's late answer is refused (410
//! `InvokeTimeout`, as AWS's Runtime API answers it) even when a second invocation runs under
//! the same request id, and the second caller gets its own answer; a runtime that does not
//! echo is served as before. The test plays the runtime (runtime-API-only mode, where an
//! instance outlives a timeout) with raw HTTP.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use common::{SAFETY, agent, get, post};
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig, Invoked};

const INVOCATION_ID: &str = "Lambda-Runtime-Invocation-Id";

struct Harness {
    emulator: Emulator,
    addr: String,
}

/// `probe` with two slots (so a second delivery can run while the first's handler has not
/// answered) and a one-second timeout.
fn harness() -> Harness {
    let mut function = FunctionConfig::new("probe", "/nonexistent/bootstrap");
    function.timeout = Duration::from_secs(1);
    function.max_concurrency = 2;
    let mut config = EmulatorConfig::new(vec![function]);
    config.runtime_api_only = true;
    let emulator = Emulator::start(config).expect("start emulator");
    let addr = emulator.runtime_api("probe").expect("runtime api endpoint");
    Harness { emulator, addr }
}

impl Harness {
    fn url(&self, path: &str) -> String {
        format!("http://{}/2018-06-01/runtime/{path}", self.addr)
    }

    /// `GET /next`: the request id, the invocation id and the event.
    fn next(&self) -> (String, String, String) {
        let answer = get(&agent(), &self.url("invocation/next"));
        assert_eq!(answer.status, 200, "{}", answer.body);
        let id = answer.header("Lambda-Runtime-Aws-Request-Id").expect("id");
        let nonce = answer.header(INVOCATION_ID).expect("an invocation id");
        (id.to_string(), nonce.to_string(), answer.body)
    }

    /// POSTs `body` to `invocation/{id}/{kind}`, echoing `nonce` if given.
    fn answer(&self, id: &str, kind: &str, nonce: Option<&str>, body: &[u8]) -> (u16, String) {
        let headers: Vec<(&str, &str)> = nonce.map(|n| (INVOCATION_ID, n)).into_iter().collect();
        let answer = post(
            &agent(),
            &self.url(&format!("invocation/{id}/{kind}")),
            &headers,
            body,
        );
        (answer.status, answer.body)
    }
}

fn timed_out(invoked: &Invoked) -> bool {
    String::from_utf8_lossy(&invoked.payload).contains("Task timed out")
}

#[test]
fn each_delivery_carries_a_fresh_nonce_distinct_from_its_request_id() {
    let h = harness();
    std::thread::scope(|scope| {
        let mut nonces = Vec::new();
        for n in 0..2 {
            let caller = scope.spawn(|| h.emulator.invoke("probe", b"{}").expect("invoke"));
            let (id, nonce, _) = h.next();
            assert_ne!(nonce, id);
            assert!(common::is_uuid(&nonce), "{nonce}");
            let (status, body) = h.answer(&id, "response", Some(&nonce), format!("{n}").as_bytes());
            assert_eq!(status, 202, "{body}");
            assert_eq!(
                caller.join().expect("caller").payload,
                format!("{n}").as_bytes()
            );
            nonces.push(nonce);
        }
        assert_ne!(nonces[0], nonces[1]);
    });
}

#[test]
fn a_timed_out_answer_under_a_reused_request_id_is_refused_and_the_second_caller_gets_its_own() {
    let h = harness();
    std::thread::scope(|scope| {
        let first = scope.spawn(|| {
            h.emulator
                .invoke_with_request_id("probe", "reused-id", br#"{"n":1}"#)
                .expect("invoke")
        });
        let (id, late_nonce, event) = h.next();
        assert_eq!((id.as_str(), event.as_str()), ("reused-id", r#"{"n":1}"#));
        // The first handler does not answer in time: its caller gets the timeout.
        let first = first.join().expect("caller");
        assert!(
            timed_out(&first),
            "{}",
            String::from_utf8_lossy(&first.payload)
        );

        // A retry under the same request id, delivered while the first handler still runs.
        let second = scope.spawn(|| {
            h.emulator
                .invoke_with_request_id("probe", "reused-id", br#"{"n":2}"#)
                .expect("invoke")
        });
        let (id, nonce, event) = h.next();
        assert_eq!((id.as_str(), event.as_str()), ("reused-id", r#"{"n":2}"#));
        assert_ne!(nonce, late_nonce);

        // The first handler's late answer echoes its own nonce: too late, on every route.
        for kind in ["response", "error"] {
            let (status, body) = h.answer(&id, kind, Some(&late_nonce), b"\"late\"");
            assert_eq!(status, 410, "{kind}: {body}");
            insta::allow_duplicates! {
                insta::assert_snapshot!(body, @r#"{"errorMessage":"Invoke timeout","errorType":"InvokeTimeout"}"#);
            }
        }
        let (status, body) = raw_stream(&h.addr, &id, &late_nonce, b"late");
        assert_eq!(status, 410, "{body}");
        // A nonce nobody was given is a stranger's.
        let (status, body) = h.answer(&id, "response", Some("not-a-nonce"), b"\"x\"");
        assert_eq!(status, 400, "{body}");
        insta::assert_snapshot!(body, @r#"{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}"#);

        let (status, body) = h.answer(&id, "response", Some(&nonce), b"\"second\"");
        assert_eq!(status, 202, "{body}");
        assert_eq!(second.join().expect("caller").payload, b"\"second\"");
    });
}

#[test]
fn a_runtime_that_does_not_echo_is_served_and_its_late_answer_is_too_late() {
    let h = harness();
    std::thread::scope(|scope| {
        let caller = scope.spawn(|| h.emulator.invoke("probe", b"{}").expect("invoke"));
        let (id, _, _) = h.next();
        assert!(timed_out(&caller.join().expect("caller")));
        // No header, no validation by nonce: the request id says it timed out.
        let (status, body) = h.answer(&id, "response", None, b"\"late\"");
        assert_eq!(status, 410, "{body}");

        let caller = scope.spawn(|| h.emulator.invoke("probe", b"{}").expect("invoke"));
        let (id, _, _) = h.next();
        let (status, body) = h.answer(&id, "response", None, b"\"ok\"");
        assert_eq!(status, 202, "{body}");
        assert_eq!(caller.join().expect("caller").payload, b"\"ok\"");
    });
}

/// A streamed `/response` for `id` echoing `nonce`, with `data` as its one chunk: the answer's
/// status and body.
fn raw_stream(addr: &str, id: &str, nonce: &str, data: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(SAFETY)).expect("timeout");
    let head = format!(
        "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nHost: runtime\r\n\
         Lambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\n\
         {INVOCATION_ID}: {nonce}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n\
         {:x}\r\n",
        data.len()
    );
    // A server that refuses the stream may close before the body is written.
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(data);
    let _ = stream.write_all(b"\r\n0\r\n\r\n");
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, body)
}
