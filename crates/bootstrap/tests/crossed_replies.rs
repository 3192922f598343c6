//! Version 2 of the worker protocol never crosses answers: a reply too many, a reply to an
//! old id, a reply racing a timeout, or a worker still speaking version 1, with real workers.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Function, SAFETY, context};
use lamina_bootstrap::{Handler, InvocationError};

/// A worker that misbehaves on request, written directly against PROTOCOL.md.
///
/// `double-later:DIR` replies, then waits for `DIR/go` (the test's barrier), writes a second
/// reply and creates `DIR/sent`; `double-on-next` replies, then reads the next request's
/// header and only then writes a second reply for the earlier id: each late reply provoked by
/// the test, not timed.
const MISBEHAVING: &str = r#"#!/usr/bin/env python3
import os, time
requests = os.fdopen(int(os.environ["LAMINA_PROTOCOL_IN"]), "rb")
replies = os.fdopen(int(os.environ["LAMINA_PROTOCOL_OUT"]), "wb")

def response(rid, body):
    return b"RESPONSE %s %d\n" % (rid, len(body)) + body

replies.write(b"READY 2\n"); replies.flush()
previous = b"none"
while header := requests.readline():
    _, rid, clen, elen = header.split()
    requests.read(int(clen))
    event = requests.read(int(elen))
    if event == b"double-now":
        # Two replies in one write: the second is in the bootstrap's buffer with the first.
        replies.write(response(rid, b"first") + response(rid, b"extra")); replies.flush()
    elif event.startswith(b"double-later:"):
        gate = event[len(b"double-later:"):].decode()
        replies.write(response(rid, b"first")); replies.flush()
        while not os.path.exists(os.path.join(gate, "go")):
            time.sleep(0.005)
        replies.write(response(rid, b"stale")); replies.flush()
        open(os.path.join(gate, "sent"), "w").close()
    elif event == b"double-on-next":
        replies.write(response(rid, b"first")); replies.flush()
        # The next INVOKE is on its way: take its header, then answer the old id.
        requests.readline()
        replies.write(response(rid, b"stale")); replies.flush()
    elif event == b"old":
        replies.write(response(previous, b"for the previous invocation")); replies.flush()
    elif event == b"no-id":
        replies.write(b"RESPONSE 5\nhello"); replies.flush()
    elif event.startswith(b"late:"):
        time.sleep(int(event[5:]) / 1000)
        replies.write(response(rid, event)); replies.flush()
    else:
        body = b"%d %s" % (os.getpid(), rid)
        replies.write(response(rid, body)); replies.flush()
    previous = rid
"#;

fn function() -> Function {
    let function = Function::new();
    function.executable("serve.py", MISBEHAVING);
    function
}

fn call(handler: &mut dyn Handler, event: &str, id: &str) -> Result<String, InvocationError> {
    handler
        .invoke(event.as_bytes(), &context(id, SAFETY))
        .map(|body| String::from_utf8(body).unwrap())
}

/// `whoami` as invocation `id`: the worker's pid, after checking the answer is `id`'s own.
fn pid(handler: &mut dyn Handler, id: &str) -> u32 {
    let body = call(handler, "whoami", id).unwrap();
    let (pid, answered) = body.split_once(' ').unwrap();
    assert_eq!(answered, id, "invocation {id} got another's answer: {body}");
    pid.parse().unwrap()
}

fn protocol_error(result: Result<String, InvocationError>) -> String {
    let error = result.expect_err("a misbehaving worker's reply was taken as the answer");
    assert_eq!(
        error.error_type, "Runtime.ProtocolError",
        "{}",
        error.message
    );
    error.message
}

#[test]
fn a_second_reply_in_the_same_read_gets_the_worker_replaced_before_the_next_invocation() {
    let function = function();
    let mut handler = function.load("worker:./serve.py").unwrap();
    let before = pid(&mut *handler, "req-0");
    assert_eq!(call(&mut *handler, "double-now", "req-1").unwrap(), "first");
    let after = pid(&mut *handler, "req-2");
    assert_ne!(before, after, "the worker that replied twice still serves");
    assert!(
        function.logs().contains(
            "worker `worker:./serve.py` wrote more after its reply (`RESPONSE req-1 5`); starting a new one"
        ),
        "{}",
        function.logs()
    );
}

#[test]
fn a_late_second_reply_fails_the_next_invocation_before_its_event_is_sent() {
    let function = function();
    let mut handler = function.load("worker:./serve.py").unwrap();
    let before = pid(&mut *handler, "req-0");
    let gate = tempfile::tempdir().unwrap();
    let event = format!("double-later:{}", gate.path().display());
    assert_eq!(call(&mut *handler, &event, "req-1").unwrap(), "first");
    // Only now, with req-1 answered and nothing asked, is the worker let write its extra
    // reply; the next invocation is sent once that reply is in the pipe.
    std::fs::write(gate.path().join("go"), b"").unwrap();
    common::wait_for_file(&gate.path().join("sent"));
    let message = protocol_error(call(&mut *handler, "whoami", "req-2"));
    insta::assert_snapshot!(message, @"worker `worker:./serve.py` wrote to its reply pipe while no invocation was running (`RESPONSE req-1 5`: a reply too many, or too late, for an earlier invocation), so this invocation was not sent to it and it was replaced");
    let after = pid(&mut *handler, "req-3");
    assert_ne!(before, after);
}

#[test]
fn a_second_reply_arriving_during_the_next_invocation_is_refused_by_its_id() {
    let function = function();
    let mut handler = function.load("worker:./serve.py").unwrap();
    assert_eq!(
        call(&mut *handler, "double-on-next", "req-1").unwrap(),
        "first"
    );
    // The worker writes its stale reply for req-1 once req-2's INVOKE reaches it, so the reply
    // comes back as if it answered req-2.
    let message = protocol_error(call(&mut *handler, "whoami", "req-2"));
    insta::assert_snapshot!(message, @"worker `worker:./serve.py` answered INVOKE `req-2` with a RESPONSE for `req-1`; it was not taken as this invocation's answer, and the worker was replaced");
    pid(&mut *handler, "req-3");
}

#[test]
fn a_reply_to_an_old_id_is_a_protocol_error_and_the_worker_is_replaced() {
    let function = function();
    let mut handler = function.load("worker:./serve.py").unwrap();
    let before = pid(&mut *handler, "req-1");
    let message = protocol_error(call(&mut *handler, "old", "req-2"));
    assert!(message.contains("with a RESPONSE for `req-1`"), "{message}");
    let after = pid(&mut *handler, "req-3");
    assert_ne!(before, after);
}

#[test]
fn a_version_1_reply_says_what_changed() {
    let function = function();
    let mut handler = function.load("worker:./serve.py").unwrap();
    let message = protocol_error(call(&mut *handler, "no-id", "req-1"));
    assert!(
        message.contains("`RESPONSE 5`, a reply without the request id, as version 1"),
        "{message}"
    );
    pid(&mut *handler, "req-2");
}

#[test]
fn a_reply_racing_the_timeout_is_its_own_answer_or_a_timeout_never_the_next_ones() {
    let function = function();
    let mut handler = function.load("worker:./serve.py").unwrap();
    let mut worker = pid(&mut *handler, "req-first");
    // The bootstrap gives up 100 ms before a 700 ms deadline: these replies land around then.
    for (round, sleep_ms) in [500, 560, 580, 600, 620, 640, 700].into_iter().enumerate() {
        let event = format!("late:{sleep_ms}");
        let id = format!("req-late-{round}");
        let timed_out =
            match handler.invoke(event.as_bytes(), &context(&id, Duration::from_millis(700))) {
                Ok(body) => {
                    assert_eq!(body, event.as_bytes(), "round {round} got another's answer");
                    false
                }
                Err(error) => {
                    assert_eq!(error.error_type, "Runtime.HandlerTimeout", "{error}");
                    true
                }
            };
        assert!(
            timed_out || sleep_ms < 700,
            "a reply after the deadline was taken"
        );
        let next = pid(&mut *handler, &format!("req-next-{round}"));
        if timed_out {
            assert_ne!(
                next, worker,
                "round {round}: the timed-out worker still serves"
            );
        } else {
            assert_eq!(
                next, worker,
                "round {round}: a worker that answered was replaced"
            );
        }
        worker = next;
    }
}

fn start_error(function: &Function, worker: &str) -> String {
    function.executable("old.sh", worker);
    let error = function.load("worker:./old.sh").unwrap_err();
    format!("{}: {error}", error.error_type())
}

#[test]
fn a_worker_of_version_1_is_told_what_changed() {
    let function = Function::new();
    let bare = start_error(
        &function,
        "#!/bin/bash\nprintf 'READY\\n' >&4\nwhile read -r line <&3; do :; done\n",
    );
    insta::assert_snapshot!(bare, @"Runtime.WorkerStartError: worker `worker:./old.sh` failed to start: it sent a bare `READY`, as workers of version 1 of the protocol do, but this bootstrap speaks version 2 (LAMINA_PROTOCOL=2): READY announces the version (`READY 2`), INVOKE carries the request id (`INVOKE <id> <context> <event>`), and RESPONSE and ERROR echo it (`RESPONSE <id> <body>`, `ERROR <id> <type> <message> <stack>`); see PROTOCOL.md");
    let announced = start_error(
        &function,
        "#!/bin/bash\nprintf 'READY 1\\n' >&4\nsleep 60\n",
    );
    insta::assert_snapshot!(announced, @"Runtime.WorkerStartError: worker `worker:./old.sh` failed to start: it announced version 1 of the worker protocol (`READY 1`), but this bootstrap speaks version 2 (LAMINA_PROTOCOL=2): READY announces the version (`READY 2`), INVOKE carries the request id (`INVOKE <id> <context> <event>`), and RESPONSE and ERROR echo it (`RESPONSE <id> <body>`, `ERROR <id> <type> <message> <stack>`); see PROTOCOL.md");
}
