//! The real bootstrap binary (`lamina-bootstrap`, installed as `/opt/bootstrap` by the layer)
//! under the local Lambda (`lamina-emulator`), invoked over HTTP, running the samples and the
//! adapters from this repository as the runtime layer would.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::invoke_http as invoke;
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};
use serde_json::json;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A function running the real bootstrap with `handler` in `task_root`, the adapters of this
/// crate standing in for `/opt/lamina/adapters` and an empty folder for the rest of `/opt`.
fn function(name: &str, task_root: &Path, handler: &str, opt: &Path) -> FunctionConfig {
    let mut function = FunctionConfig::new(name, env!("CARGO_BIN_EXE_lamina-bootstrap"));
    function.task_root = task_root.to_path_buf();
    function.handler = handler.into();
    function.timeout = Duration::from_secs(3);
    function.env = vec![
        ("LAMINA_OPT_DIR".into(), opt.to_string_lossy().into_owned()),
        (
            "LAMINA_ADAPTERS_DIR".into(),
            common::adapters_dir().to_string_lossy().into_owned(),
        ),
        (common::ROOMY_MARGIN.0.into(), common::ROOMY_MARGIN.1.into()),
    ];
    function
}

#[test]
fn the_samples_greet_and_report_errors() {
    let opt = tempfile::tempdir().unwrap();
    let samples = repository().join("samples");
    let functions = vec![
        function(
            "shell-function",
            &samples.join("sample-shell"),
            "handler.handle",
            opt.path(),
        ),
        function(
            "shell-executable",
            &samples.join("sample-shell"),
            "greet.sh",
            opt.path(),
        ),
        function(
            "perl",
            &samples.join("sample-perl"),
            "handler.handle",
            opt.path(),
        ),
        function(
            "python",
            &samples.join("sample-python"),
            "handler.handle",
            opt.path(),
        ),
    ];
    let names: Vec<String> = functions.iter().map(|f| f.name.clone()).collect();
    let emulator = Emulator::start(EmulatorConfig::new(functions)).unwrap();
    let mut errors = Vec::new();
    for name in &names {
        let answer = invoke(&emulator, name, br#"{"name":"Ada"}"#);
        assert_eq!(answer.status, 200, "{name}");
        assert_eq!(
            answer.function_error,
            None,
            "{name}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(answer.json(), json!({"message": "Hello, Ada!"}), "{name}");

        let answer = invoke(&emulator, name, b"{}");
        assert_eq!(answer.status, 200, "{name}");
        assert_eq!(
            answer.function_error.as_deref(),
            Some("Unhandled"),
            "{name}"
        );
        let body = answer.json();
        let line = format!("{name}: {} / {}", body["errorType"], body["errorMessage"]);
        errors.push(redact_request_id(&line));

        // Still serving after the error.
        let answer = invoke(&emulator, name, br#"{"name":"Grace"}"#);
        assert_eq!(answer.json(), json!({"message": "Hello, Grace!"}), "{name}");
        let logs = emulator.logs(name);
        assert!(logs.contains("greeting 'Grace'"), "{name}: {logs}");
    }
    insta::assert_snapshot!(errors.join("\n"), @r#"
    shell-function: "InvalidEvent" / "the event needs a \"name\", e.g. {\"name\":\"Ada\"}"
    shell-executable: "HandlerError" / "`greet.sh` exited with exit status 2; last lines of stderr:\nrequest <id>: greeting ''\nthe event needs a \"name\", e.g. {\"name\":\"Ada\"}"
    perl: "InvalidEvent" / "the event needs a \"name\", e.g. {\"name\":\"Ada\"}"
    python: "InvalidEvent" / "the event needs a \"name\", e.g. {\"name\":\"Ada\"}"
    "#);
}

/// `request 1234-...: ` becomes `request <id>: `.
fn redact_request_id(text: &str) -> String {
    match text.split_once("request ") {
        Some((before, after)) => match after.split_once(':') {
            Some((_, rest)) => format!("{before}request <id>:{rest}"),
            None => text.to_owned(),
        },
        None => text.to_owned(),
    }
}

const UNRULY: &str = r#"
import os, time

def handle(event, context):
    if event.get("crash"):
        os._exit(4)
    if event.get("sleep"):
        time.sleep(60)
    return {"pid": os.getpid()}
"#;

#[test]
fn crash_and_timeout_recover_under_the_emulator() {
    let opt = tempfile::tempdir().unwrap();
    let task = tempfile::tempdir().unwrap();
    common::write_file(&task.path().join("handler.py"), UNRULY, 0o644);
    let function = function("unruly", task.path(), "handler.handle", opt.path());
    let emulator = Emulator::start(EmulatorConfig::new(vec![function])).unwrap();

    let first = invoke(&emulator, "unruly", b"{}").json();
    let crashed = invoke(&emulator, "unruly", br#"{"crash":true}"#);
    assert_eq!(crashed.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(crashed.json()["errorType"], "Runtime.ExitError");
    let second = invoke(&emulator, "unruly", b"{}").json();
    assert_ne!(first["pid"], second["pid"], "the worker was not restarted");

    let timed_out = invoke(&emulator, "unruly", br#"{"sleep":true}"#);
    assert_eq!(timed_out.function_error.as_deref(), Some("Unhandled"));
    let body = timed_out.json();
    assert_eq!(
        body["errorType"], "Runtime.HandlerTimeout",
        "the bootstrap must answer before Lambda's own timeout: {body}"
    );
    let third = invoke(&emulator, "unruly", b"{}").json();
    assert_ne!(second["pid"], third["pid"], "the worker was not restarted");
    // One bootstrap process served all of it: Lambda never had to restart the runtime.
    let logs = emulator.logs("unruly");
    assert!(!logs.contains("Task timed out"), "{logs}");
}

#[test]
fn init_errors_reach_lambda_with_their_type() {
    let opt = tempfile::tempdir().unwrap();
    let missing = tempfile::tempdir().unwrap();
    let broken = tempfile::tempdir().unwrap();
    common::write_file(
        &broken.path().join("handler.py"),
        "def handle(e, c)\n",
        0o644,
    );
    let functions = vec![
        function("missing", missing.path(), "handler.handle", opt.path()),
        function("broken", broken.path(), "handler.handle", opt.path()),
    ];
    let emulator = Emulator::start(EmulatorConfig::new(functions)).unwrap();
    for (name, error_type, message_start) in [
        (
            "missing",
            "Runtime.HandlerNotFound",
            "_HANDLER=`handler.handle` names function `handle` of `handler`, but none of handler.pl, handler.py, handler.sh exists",
        ),
        ("broken", "Runtime.UserCodeSyntaxError", "Syntax error in "),
    ] {
        let answer = invoke(&emulator, name, b"{}");
        assert_eq!(
            answer.function_error.as_deref(),
            Some("Unhandled"),
            "{name}"
        );
        let body = answer.json();
        assert_eq!(body["errorType"], error_type, "{name}: {body}");
        let message = body["errorMessage"].as_str().unwrap();
        assert!(message.starts_with(message_start), "{name}: {message}");
        let logs = emulator.logs(name);
        let init_report = format!("Status: error\tError Type: {error_type}");
        assert!(logs.contains(&init_report), "{name}: {logs}");
    }
}

/// With `AWS_LAMBDA_MAX_CONCURRENCY=4` (the emulator's `max_concurrency`), the bootstrap starts
/// four workers and serves four invocations at once, each on a worker of its own.
#[test]
fn at_four_slots_four_python_workers_serve_at_once() {
    let opt = tempfile::tempdir().unwrap();
    let task = tempfile::tempdir().unwrap();
    std::fs::write(
        task.path().join("handler.py"),
        "import os, time\n\ndef handle(event, context):\n    time.sleep(0.05)\n    return {'pid': os.getpid(), 'n': event['n'], 'id': context.aws_request_id}\n",
    )
    .unwrap();
    let mut config = function("slots", task.path(), "handler.handle", opt.path());
    config.max_concurrency = 4;
    config.timeout = Duration::from_secs(10);
    let emulator = Emulator::start(EmulatorConfig::new(vec![config])).unwrap();
    let answers: Vec<(usize, common::Answer)> = std::thread::scope(|scope| {
        let callers: Vec<_> = (0..4)
            .map(|caller| {
                let emulator = &emulator;
                scope.spawn(move || {
                    (0..10)
                        .map(|i| {
                            let n = caller * 10 + i;
                            let payload = format!(r#"{{"n":{n}}}"#);
                            (n, invoke(emulator, "slots", payload.as_bytes()))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        callers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect()
    });
    let mut pids = std::collections::HashSet::new();
    for (n, answer) in &answers {
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(answer.function_error, None, "{body}");
        assert_eq!(body["n"], *n, "crossed: {body}");
        assert_eq!(body["id"], answer.request_id.as_str(), "crossed: {body}");
        pids.insert(body["pid"].as_u64().unwrap());
    }
    assert_eq!(answers.len(), 40);
    assert_eq!(pids.len(), 4, "one worker per slot: {pids:?}");
}
