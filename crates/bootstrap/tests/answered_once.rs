//! A handler runs once per delivery, whatever it sends back (issue #19): the real bootstrap
//! under the emulator, a Python worker that streams one chunk and then fails with a 20,000-byte
//! message. Each run of the handler appends a line to a file, so the runs are counted.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Function, invoke_http as invoke};
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};

/// Appends a line per run, streams one chunk, then fails with a message `size` bytes long.
const HANDLER: &str = r#"
import os

def handle(event, context):
    with open(os.environ["RUNS_FILE"], "a") as runs:
        runs.write("run\n")
    yield "part one;"
    raise ValueError("x" * event["size"])
"#;

/// The real bootstrap running `handler` from `function`'s task root, with `env` added.
fn config(function: &Function, handler: &str, env: &[(&str, String)]) -> FunctionConfig {
    let mut config = FunctionConfig::new("probe", env!("CARGO_BIN_EXE_lamina-bootstrap"));
    config.task_root = function.task_root.path().to_path_buf();
    config.handler = handler.into();
    // Long enough for a healthy run; the old code's Sandbox.Timedout came at the timeout.
    config.timeout = Duration::from_secs(5);
    config.env = vec![
        (
            "LAMINA_OPT_DIR".into(),
            function.opt.path().to_string_lossy().into_owned(),
        ),
        (
            "LAMINA_ADAPTERS_DIR".into(),
            common::adapters_dir().to_string_lossy().into_owned(),
        ),
        (common::ROOMY_MARGIN.0.into(), common::ROOMY_MARGIN.1.into()),
    ];
    config.env.extend(
        env.iter()
            .map(|(name, value)| (name.to_string(), value.clone())),
    );
    config
}

#[test]
fn a_long_error_after_the_first_chunk_runs_the_handler_once_and_reaches_the_caller() {
    let function = Function::new();
    function.file("handler.py", HANDLER, 0o644);
    let runs = function.task_root.path().join("runs.txt");
    let env = [("RUNS_FILE", runs.to_string_lossy().into_owned())];
    let emulator = Emulator::start(EmulatorConfig::new(vec![config(
        &function,
        "handler.handle",
        &env,
    )]))
    .unwrap();
    let answer = invoke(&emulator, "probe", br#"{"size":20000}"#);
    let count = |runs: &std::path::Path| std::fs::read_to_string(runs).unwrap().lines().count();
    assert_eq!(count(&runs), 1, "one delivery, one run");
    let error = answer.error();
    // The worker's own error, cut to fit the trailers and saying so: not Sandbox.Timedout.
    assert_eq!(error["errorType"], "ValueError", "{error}");
    let message = error["errorMessage"].as_str().unwrap();
    assert!(message.starts_with("xxxx"), "{message}");
    insta::assert_snapshot!(
        message.trim_start_matches('x'),
        @" ... [cut from 20000 bytes: an error after a stream's first byte travels in an HTTP trailer]"
    );
    // The worker serves on, and a short error is passed whole.
    let answer = invoke(&emulator, "probe", br#"{"size":11}"#);
    assert_eq!(answer.error()["errorMessage"], "x".repeat(11));
    assert_eq!(count(&runs), 2);
}

#[test]
fn a_max_concurrency_past_lambdas_limit_fails_init_naming_the_variable_and_the_limit() {
    let function = Function::new();
    function.file("handler.py", HANDLER, 0o644);
    let env = [("AWS_LAMBDA_MAX_CONCURRENCY", "4294967295".to_string())];
    let emulator = Emulator::start(EmulatorConfig::new(vec![config(
        &function,
        "handler.handle",
        &env,
    )]))
    .unwrap();
    let answer = invoke(&emulator, "probe", br#"{"size":1}"#);
    let error = answer.error();
    let message = error["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("AWS_LAMBDA_MAX_CONCURRENCY") && message.contains("1 to 1600"),
        "{error}"
    );
}

#[test]
fn a_hundred_slots_of_the_real_bootstrap_are_all_served() {
    const SLOTS: usize = 100;
    let function = Function::new();
    // Each invocation waits until every slot has one: all run in the one instance at once.
    function.executable(
        "wait.sh",
        "#!/bin/sh\nevent=$(cat)\ntouch \"$SLOTS_DIR/$LAMINA_REQUEST_ID\"\n\
         while [ \"$(ls \"$SLOTS_DIR\" | wc -l)\" -lt 100 ]; do sleep 0.05; done\n\
         printf '%s' \"$event\"\n",
    );
    let slots_dir = tempfile::tempdir().unwrap();
    let env = [
        ("SLOTS_DIR", slots_dir.path().to_string_lossy().into_owned()),
        ("AWS_LAMBDA_MAX_CONCURRENCY", SLOTS.to_string()),
    ];
    let mut config = config(&function, "wait.sh", &env);
    config.max_concurrency = SLOTS;
    config.timeout = Duration::from_secs(60);
    let emulator = Emulator::start(EmulatorConfig::new(vec![config])).unwrap();
    std::thread::scope(|scope| {
        let callers: Vec<_> = (0..SLOTS)
            .map(|n| {
                let emulator = &emulator;
                scope.spawn(move || {
                    let payload = format!("{{\"n\":{n}}}");
                    (
                        payload.clone(),
                        invoke(emulator, "probe", payload.as_bytes()),
                    )
                })
            })
            .collect();
        for caller in callers {
            let (payload, answer) = caller.join().unwrap();
            assert_eq!(
                answer.ok(),
                serde_json::from_str::<serde_json::Value>(&payload).unwrap()
            );
        }
    });
}
