//! AWS's own Python runtime interface client (PyPI's `awslambdaric`, from the venv
//! `cargo xtask ci` installs; `LAMINA_SKIP_MOTO=1` skips, loudly) as the function under
//! lamina-emulator: its context (request id, remaining time from the epoch deadline, ARN,
//! client context), its error shape, and its multi-concurrent mode, where
//! `AWS_LAMBDA_MAX_CONCURRENCY=N` makes it fork N workers that each poll `/next`.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use lamina_e2e::boto3_python;
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};
use serde_json::Value;

const APP: &str = r#"
import os, time

def handler(event, context):
    print("handled", context.aws_request_id)
    if event.get("do") == "fail":
        raise ValueError("no order 42")
    started = time.time()
    time.sleep(event.get("sleep", 0))
    custom = context.client_context.custom if context.client_context else None
    return {"request_id": context.aws_request_id,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "arn": context.invoked_function_arn, "custom": custom, "pid": os.getpid(),
            "started": started, "ended": time.time()}
"#;

/// An emulator serving `app.handler` through awslambdaric, with `max_concurrency` slots;
/// `None` when the Python clients are skipped.
fn emulator(task: &Path, max_concurrency: usize) -> Option<Emulator> {
    emulator_of(task, max_concurrency, "app.handler")
}

/// The same, with `handler` as `_HANDLER`.
fn emulator_of(task: &Path, max_concurrency: usize, handler: &str) -> Option<Emulator> {
    let python = boto3_python()?;
    std::fs::write(task.join("app.py"), APP).unwrap();
    let bootstrap = task.join("bootstrap");
    std::fs::write(
        &bootstrap,
        "#!/bin/sh\nexec \"$RIC_PYTHON\" -m awslambdaric \"$_HANDLER\"\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &bootstrap,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut config = FunctionConfig::new("ric", &bootstrap);
    config.timeout = Duration::from_secs(5);
    config.max_concurrency = max_concurrency;
    config.task_root = task.to_path_buf();
    config.handler = handler.to_string();
    config.env = vec![
        ("RIC_PYTHON".to_string(), python.display().to_string()),
        ("PYTHONPATH".to_string(), task.display().to_string()),
    ];
    Some(Emulator::start(EmulatorConfig::new(vec![config])).unwrap())
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// POSTs `payload` (with `headers`) to the function: the request id, the function error
/// header and the body as JSON.
fn invoke(
    emulator: &Emulator,
    payload: &str,
    headers: &[(&str, &str)],
) -> (String, Option<String>, Value) {
    let mut request = agent().post(emulator.invoke_url("ric"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.send(payload).unwrap();
    let text = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let (id, error) = (
        text("X-Amzn-RequestId").unwrap(),
        text("X-Amz-Function-Error"),
    );
    let body = serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    (id, error, body)
}

#[test]
fn awslambdaric_gets_its_context_and_reports_its_errors_as_on_lambda() {
    let task = tempfile::tempdir().unwrap();
    let Some(emulator) = emulator(task.path(), 1) else {
        return;
    };
    let context = base64::engine::general_purpose::STANDARD
        .encode(r#"{"custom":{"tenant":"t-1"},"client":{"app_title":"a"}}"#);
    let (id, error, answer) = invoke(&emulator, "{}", &[("X-Amz-Client-Context", &context)]);
    assert_eq!(error, None, "{answer}");
    assert_eq!(answer["request_id"], id.as_str());
    // The deadline is epoch milliseconds: the remaining time is within the 5 s timeout.
    let remaining = answer["remaining_ms"].as_i64().unwrap();
    assert!(remaining > 0 && remaining <= 5000, "{answer}");
    assert!(
        answer["arn"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:lambda:us-east-1:"),
        "{answer}"
    );
    assert!(answer["arn"].as_str().unwrap().ends_with(":function:ric"));
    assert_eq!(answer["custom"]["tenant"], "t-1", "{answer}");

    // Its error shape: the exception's class and message, a stack trace; the process lives.
    let (_, error, failed) = invoke(&emulator, r#"{"do":"fail"}"#, &[]);
    assert_eq!(error.as_deref(), Some("Unhandled"));
    assert_eq!(failed["errorType"], "ValueError", "{failed}");
    assert_eq!(failed["errorMessage"], "no order 42", "{failed}");
    assert!(failed["stackTrace"].is_array(), "{failed}");
    let (id, error, after) = invoke(&emulator, "{}", &[]);
    assert_eq!(error, None, "{after}");
    assert_eq!(after["pid"], answer["pid"], "the same process serves on");
    assert!(
        emulator.logs("ric").contains(&format!("handled {id}")),
        "{}",
        emulator.logs("ric")
    );
}

#[test]
fn awslambdaric_multi_concurrent_workers_serve_four_at_once_and_never_more() {
    let task = tempfile::tempdir().unwrap();
    let Some(emulator) = emulator(task.path(), 4) else {
        return;
    };
    let answers: Vec<(Option<String>, Value)> = std::thread::scope(|scope| {
        let callers: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    let (_, error, body) = invoke(&emulator, r#"{"sleep":0.6}"#, &[]);
                    (error, body)
                })
            })
            .collect();
        callers.into_iter().map(|c| c.join().unwrap()).collect()
    });
    for (error, body) in &answers {
        assert_eq!(*error, None, "{body}");
    }
    let spans: Vec<(f64, f64)> = answers
        .iter()
        .map(|(_, b)| (b["started"].as_f64().unwrap(), b["ended"].as_f64().unwrap()))
        .collect();
    // The most invocations running at one moment: at the start of some invocation.
    let most = spans
        .iter()
        .map(|(at, _)| spans.iter().filter(|(s, e)| s <= at && at < e).count())
        .max()
        .unwrap();
    assert_eq!(most, 4, "{spans:?}");
    let pids: std::collections::HashSet<i64> = answers
        .iter()
        .map(|(_, b)| b["pid"].as_i64().unwrap())
        .collect();
    assert!(pids.len() <= 4, "more workers than slots: {pids:?}");
}

#[test]
fn an_awslambdaric_handler_that_does_not_import_fails_init_as_on_lambda() {
    let task = tempfile::tempdir().unwrap();
    let Some(emulator) = emulator_of(task.path(), 1, "missing.handler") else {
        return;
    };
    let (_, error, failed) = invoke(&emulator, "{}", &[]);
    assert_eq!(error.as_deref(), Some("Unhandled"));
    assert_eq!(failed["errorType"], "Runtime.ImportModuleError", "{failed}");
    assert!(
        failed["errorMessage"]
            .as_str()
            .unwrap()
            .contains("No module named 'missing'"),
        "{failed}"
    );
    let logs = emulator.logs("ric");
    assert!(logs.contains("INIT_REPORT"), "{logs}");
}
