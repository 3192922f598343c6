//! The worker convention (`_HANDLER=worker:...`), with a worker that speaks PROTOCOL.md itself.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Function, SAFETY, becomes_gone, binary_event, context, invoke};

/// A worker written directly against PROTOCOL.md, as a user of another language would.
const SERVE: &str = r#"#!/usr/bin/env python3
import os, sys, time
requests = os.fdopen(int(os.environ["LAMINA_PROTOCOL_IN"]), "rb")
replies = os.fdopen(int(os.environ["LAMINA_PROTOCOL_OUT"]), "wb")
assert os.environ["LAMINA_PROTOCOL"] == "2"
print("worker starting", flush=True)
replies.write(b"READY 2\n"); replies.flush()
while True:
    header = requests.readline()
    if not header:
        break
    kind, rid, clen, elen = header.split()
    context = dict(l.split("=", 1) for l in requests.read(int(clen)).decode().splitlines())
    event = requests.read(int(elen))
    print("stdout noise RESPONSE 99", flush=True)
    sys.stderr.write("stderr noise\n"); sys.stderr.flush()
    if event == b"crash":
        sys.stderr.write("going down\n"); sys.stderr.flush()
        os._exit(7)
    if event == b"sleep":
        time.sleep(60)
    if event == b"hang-up":
        replies.close()
        time.sleep(60)
    if event == b"garbage":
        replies.write(b"HELLO there\n"); replies.flush()
        continue
    if event == b"fail":
        t, m, s = b"Order.NotFound", b"no order 42", b"at serve.py line 20"
        replies.write(b"ERROR %s %d %d %d\n" % (rid, len(t), len(m), len(s)) + t + m + s); replies.flush()
        continue
    if event == b"whoami":
        event = ("%d %s" % (os.getpid(), context["LAMINA_REQUEST_ID"])).encode()
    replies.write(b"RESPONSE %s %d\n" % (rid, len(event)) + event); replies.flush()
"#;

fn function() -> Function {
    let function = Function::new();
    function.executable("serve.py", SERVE);
    function
}

fn pid_of(response: &[u8]) -> u32 {
    let text = String::from_utf8_lossy(response);
    text.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn one_worker_serves_many_invocations_and_its_prints_only_reach_the_log() {
    let function = function();
    let mut handler = function.load("worker:./serve.py").unwrap();
    let first = handler
        .invoke(b"whoami", &context("req-1", SAFETY))
        .unwrap();
    let second = handler
        .invoke(b"whoami", &context("req-2", SAFETY))
        .unwrap();
    assert_eq!(
        pid_of(&first),
        pid_of(&second),
        "the worker was restarted between events"
    );
    assert!(String::from_utf8_lossy(&second).ends_with(" req-2"));
    let logs = function.logs();
    assert!(logs.starts_with("worker starting\n"), "{logs}");
    assert!(logs.contains("stdout noise RESPONSE 99\n"), "{logs}");
    assert!(logs.contains("stderr noise\n"), "{logs}");
}

#[test]
fn an_error_message_keeps_its_type_message_and_stack() {
    let function = function();
    let mut handler = function.load("worker:serve.py").unwrap();
    let error = invoke(&mut *handler, b"fail").unwrap_err();
    assert_eq!(error.error_type, "Order.NotFound");
    assert_eq!(error.message, "no order 42");
    assert_eq!(error.stack_trace, ["at serve.py line 20"]);
    assert_eq!(invoke(&mut *handler, b"ok").unwrap(), b"ok");
}

#[test]
fn a_crash_fails_that_invocation_and_a_new_worker_serves_the_next() {
    let function = function();
    let mut handler = function.load("worker:./serve.py").unwrap();
    let before = pid_of(&invoke(&mut *handler, b"whoami").unwrap());
    let error = invoke(&mut *handler, b"crash").unwrap_err();
    assert_eq!(error.error_type, "Runtime.ExitError");
    insta::assert_snapshot!(error.message, @r"
    worker `worker:./serve.py` exited with exit status 7 during the invocation; a new worker was started; last lines of stderr:
    stderr noise
    stderr noise
    going down
    ");
    let after = pid_of(&invoke(&mut *handler, b"whoami").unwrap());
    assert_ne!(before, after);
}

#[test]
fn a_worker_that_closes_its_reply_pipe_but_lingers_is_killed_and_said_so_in_lambdas_words() {
    let function = function();
    let mut handler = function.load("worker:./serve.py").unwrap();
    let error = invoke(&mut *handler, b"hang-up").unwrap_err();
    assert_eq!(error.error_type, "Runtime.ExitError");
    insta::assert_snapshot!(error.message, @r"
    worker `worker:./serve.py` closed its reply pipe without exiting, so the bootstrap killed it after 1 s (signal: killed) during the invocation; a new worker was started; last lines of stderr:
    stderr noise
    ");
    assert_eq!(invoke(&mut *handler, b"next").unwrap(), b"next");
}

#[test]
fn an_overrun_kills_the_worker_group_and_a_new_worker_serves_the_next() {
    let function = function();
    let mut handler = function.load("worker:./serve.py").unwrap();
    let before = pid_of(&invoke(&mut *handler, b"whoami").unwrap());
    let error = handler
        .invoke(b"sleep", &context("req-slow", Duration::from_millis(1500)))
        .unwrap_err();
    assert_eq!(error.error_type, "Runtime.HandlerTimeout");
    assert!(
        becomes_gone(before),
        "the timed-out worker {before} is still running"
    );
    let after = pid_of(&invoke(&mut *handler, b"whoami").unwrap());
    assert_ne!(before, after);
}

#[test]
fn a_protocol_violation_is_an_error_and_the_worker_is_replaced() {
    let function = function();
    let mut handler = function.load("worker:./serve.py").unwrap();
    let error = invoke(&mut *handler, b"garbage").unwrap_err();
    assert_eq!(error.error_type, "Runtime.ProtocolError");
    insta::assert_snapshot!(error.message, @"worker `worker:./serve.py` broke the protocol: it sent an unknown or malformed header line `HELLO there`; it was restarted");
    assert_eq!(invoke(&mut *handler, b"fine").unwrap(), b"fine");
}

#[test]
fn five_megabytes_of_every_byte_value_round_trip() {
    let function = function();
    let mut handler = function.load("worker:./serve.py").unwrap();
    let event = binary_event();
    let response = invoke(&mut *handler, &event).unwrap();
    assert!(response == event, "the 5 MB event came back changed");
}

#[test]
fn arguments_and_path_lookup() {
    let function = Function::new();
    function.file("serve.py", SERVE, 0o644);
    let mut handler = function.load("worker:python3 serve.py").unwrap();
    assert_eq!(invoke(&mut *handler, b"hi").unwrap(), b"hi");
}

#[test]
fn a_worker_that_dies_before_ready_is_an_init_error() {
    let function = Function::new();
    function.executable(
        "serve.sh",
        "#!/bin/sh\necho 'cannot find config.toml' >&2\nexit 2\n",
    );
    let error = function.load("worker:./serve.sh").unwrap_err();
    assert_eq!(error.error_type(), "Runtime.WorkerStartError");
    insta::assert_snapshot!(error.to_string(), @r"
    worker `worker:./serve.sh` failed to start: it exited with exit status 2 before sending READY; last lines of stderr:
    cannot find config.toml
    ");
}

#[test]
fn a_worker_reporting_init_error_keeps_its_type() {
    let function = Function::new();
    function.executable(
        "serve.sh",
        "#!/bin/bash\nprintf 'INIT_ERROR 14 9 0\\nConfig.Missingno config' >&4\n",
    );
    let error = function.load("worker:./serve.sh").unwrap_err();
    assert_eq!(error.error_type(), "Config.Missing");
    assert_eq!(error.to_string(), "no config");
}

#[test]
fn the_minimal_worker_in_protocol_md_works() {
    let protocol =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../PROTOCOL.md")).unwrap();
    let start = protocol
        .find("```python\n")
        .expect("PROTOCOL.md has a Python example")
        + 10;
    let length = protocol[start..].find("```").unwrap();
    let function = Function::new();
    function.executable("minimal.py", &protocol[start..start + length]);
    let mut handler = function.load("worker:./minimal.py").unwrap();
    assert_eq!(
        invoke(&mut *handler, b"shout\x00\xff").unwrap(),
        b"SHOUT\x00\xff"
    );
    assert_eq!(invoke(&mut *handler, b"again").unwrap(), b"AGAIN");
}

#[test]
fn a_worker_does_not_outlive_the_bootstrap() {
    let function = function();
    let task_root = function.task_root.path().to_path_buf();
    let pid = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let mut handler = function.load("worker:./serve.py").unwrap();
                let pid = pid_of(&invoke(&mut *handler, b"whoami").unwrap());
                // Vanish without cleaning up, as a bootstrap killed by Lambda would.
                std::mem::forget(handler);
                pid
            })
            .join()
            .unwrap()
    });
    assert!(task_root.exists());
    assert!(
        becomes_gone(pid),
        "worker {pid} outlived the thread that supervised it"
    );
}

#[test]
fn heavy_output_during_an_invocation_is_logged_without_blocking_the_worker() {
    let function = Function::new();
    function.executable(
        "serve.py",
        &SERVE.replace(
            "    if event == b\"crash\":",
            "    if event == b\"chatty\":\n        for i in range(3000):\n            print('line %04d ' % i + 'y' * 500)\n        sys.stdout.flush()\n    if event == b\"crash\":",
        ),
    );
    let mut handler = function.load("worker:./serve.py").unwrap();
    assert_eq!(invoke(&mut *handler, b"chatty").unwrap(), b"chatty");
    let logs = function.logs();
    assert_eq!(
        logs.lines().filter(|l| l.starts_with("line ")).count(),
        3000
    );
    assert!(
        logs.contains("line 2999 yyy"),
        "the last line was not logged before the reply"
    );
}
