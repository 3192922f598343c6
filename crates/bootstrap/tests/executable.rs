//! The executable convention (`_HANDLER=handler.sh`), end to end with real processes.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Function, SAFETY, becomes_gone, binary_event, context, invoke, read_pid};

const HANDLER: &str = r#"#!/bin/bash
event=$(cat)
echo "log: got $event" >&2
case "$event" in
  *fail*) echo "about to fail" >&2; echo "partial"; exit 3 ;;
  *sleep*) sleep 60 & echo $! > child; wait ;;
  *env*) printf '%s|%s|%s|%s|%s|%s' "$LAMINA_REQUEST_ID" "$LAMINA_FUNCTION_ARN" "$_X_AMZN_TRACE_ID" "${LAMINA_DEADLINE_MS:0:2}" "${PATH%%:*}" "${LD_LIBRARY_PATH%%:*}" ;;
  *) printf '{"echo":%s}' "$event" ;;
esac
"#;

fn function() -> Function {
    let function = Function::new();
    function.executable("handler.sh", HANDLER);
    function
}

#[test]
fn success_stdout_is_the_response_and_stderr_is_logged() {
    let function = function();
    let mut handler = function.load("handler.sh").unwrap();
    let response = invoke(&mut *handler, br#"{"name":"Ada"}"#).unwrap();
    assert_eq!(response, br#"{"echo":{"name":"Ada"}}"#);
    assert!(
        function.logs().contains("log: got {\"name\":\"Ada\"}\n"),
        "{}",
        function.logs()
    );
}

#[test]
fn context_reaches_the_environment() {
    let function = function();
    let mut handler = function.load("handler.sh").unwrap();
    let response = invoke(&mut *handler, b"env").unwrap();
    let response = String::from_utf8(response).unwrap();
    let fields: Vec<&str> = response.split('|').collect();
    assert_eq!(fields[0], "req-ok");
    assert_eq!(
        fields[1],
        "arn:aws:lambda:us-east-1:123456789012:function:test"
    );
    assert_eq!(
        fields[2],
        "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
    );
    assert_eq!(fields[3], "17", "deadline in epoch milliseconds");
    let opt = function.opt.path();
    assert_eq!(fields[4], opt.join("bin").to_str().unwrap());
    assert_eq!(fields[5], opt.join("lib").to_str().unwrap());
}

#[test]
fn a_non_zero_exit_is_an_error_with_status_and_stderr_tail() {
    let function = function();
    let mut handler = function.load("handler.sh").unwrap();
    let error = invoke(&mut *handler, b"please fail").unwrap_err();
    assert_eq!(error.error_type, "HandlerError");
    insta::assert_snapshot!(error.message, @r"
    `handler.sh` exited with exit status 3; last lines of stderr:
    log: got please fail
    about to fail
    ");
    // The next invocation is unaffected.
    assert_eq!(invoke(&mut *handler, b"1").unwrap(), br#"{"echo":1}"#);
}

#[test]
fn a_handler_past_its_deadline_is_killed_with_its_children() {
    let function = function();
    let mut handler = function.load("handler.sh").unwrap();
    let error = handler
        .invoke(b"sleep", &context("req-slow", Duration::from_millis(1500)))
        .unwrap_err();
    assert_eq!(error.error_type, "Runtime.HandlerTimeout");
    assert!(
        error.message.contains("process group was killed"),
        "{}",
        error.message
    );
    let child = read_pid(&function.task_root.path().join("child"));
    assert!(
        becomes_gone(child),
        "the handler's background child {child} survived"
    );
    assert_eq!(invoke(&mut *handler, b"2").unwrap(), br#"{"echo":2}"#);
}

#[test]
fn five_megabytes_of_every_byte_value_round_trip() {
    let function = Function::new();
    function.executable("cat.sh", "#!/bin/sh\nexec cat\n");
    let mut handler = function.load("cat.sh").unwrap();
    let event = binary_event();
    let response = handler.invoke(&event, &context("req-big", SAFETY)).unwrap();
    assert!(response == event, "the 5 MB event came back changed");
}

#[test]
fn a_binary_in_any_language_works_through_its_shebang() {
    let function = Function::new();
    function.executable(
        "handler.py",
        "#!/usr/bin/env python3\nimport sys\nsys.stdout.write(sys.stdin.read().upper())\n",
    );
    let mut handler = function.load("handler.py").unwrap();
    assert_eq!(invoke(&mut *handler, b"shout").unwrap(), b"SHOUT");
}

#[test]
fn killed_by_a_signal_is_reported_by_name() {
    let function = Function::new();
    function.executable("die.sh", "#!/bin/sh\nkill -SEGV $$\n");
    let mut handler = function.load("die.sh").unwrap();
    let error = invoke(&mut *handler, b"").unwrap_err();
    insta::assert_snapshot!(error.message, @"`die.sh` exited with signal: segmentation fault");
}

#[test]
fn heavy_stderr_before_reading_stdin_does_not_deadlock() {
    let function = Function::new();
    // 2 MB of log before the 5 MB event is read: both pipes are far past their buffers.
    function.executable(
        "noisy.sh",
        "#!/bin/bash\nhead -c 2000000 /dev/zero | tr '\\0' 'x' | fold -w 1000 >&2\nexec cat\n",
    );
    let mut handler = function.load("noisy.sh").unwrap();
    let event = binary_event();
    let response = handler
        .invoke(&event, &context("req-noisy", SAFETY))
        .unwrap();
    assert!(response == event, "the event came back changed");
    assert_eq!(
        function.logs().lines().filter(|l| l.len() == 1000).count(),
        2000
    );
}
