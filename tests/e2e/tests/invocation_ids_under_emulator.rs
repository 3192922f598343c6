//! `Lambda-Runtime-Invocation-Id` with AWS's own runtime as the function (issue #23): PyPI's
//! awslambdaric 4.2.2 echoes the nonce (`lambda_runtime_client.py` reads it from `/next` and
//! passes it to `post_invocation_result`/`post_error`), so when an invocation times out and a
//! second one runs under the same request id (a retry), the first handler's late answer is
//! refused and the second caller gets its own answer. The emulator runs in runtime-API-only
//! mode, where an instance outlives a timeout as a Managed Instance does, and awslambdaric's
//! multi-concurrent mode (`AWS_LAMBDA_MAX_CONCURRENCY=2`: two forked workers) lets the second
//! delivery run while the first handler is still busy. A shell bootstrap that never echoes is
//! served as before.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lamina_e2e::boto3_python;
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};

/// Each handler waits for the test's go-ahead file, so the order of events is the test's.
const APP: &str = r#"
import json, os, time

def handler(event, context):
    n = event["n"]
    open(os.path.join(event["dir"], f"started-{n}"), "w").close()
    go = os.path.join(event["dir"], f"go-{n}")
    while not os.path.exists(go):
        time.sleep(0.01)
    return {"n": n, "request_id": context.aws_request_id}
"#;

/// Gives up on a hang (the old code can hang a waiting step) instead of blocking CI.
const SAFETY: Duration = Duration::from_secs(60);

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < SAFETY, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// An emulator with one function, `ric`, whose runtime the test starts by hand.
fn emulator(max_concurrency: usize) -> Emulator {
    let mut function = FunctionConfig::new("ric", "/nonexistent/bootstrap");
    // Long enough for the second handler's steps on a loaded machine; the first waits it out.
    function.timeout = Duration::from_secs(3);
    function.max_concurrency = max_concurrency;
    let mut config = EmulatorConfig::new(vec![function]);
    config.runtime_api_only = true;
    Emulator::start(config).unwrap()
}

/// A runtime started by hand, its stdout and stderr gathered as they come.
struct Runtime {
    child: Child,
    output: Arc<Mutex<String>>,
}

impl Runtime {
    fn start(mut command: Command) -> Runtime {
        let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
        let output = Arc::new(Mutex::new(String::new()));
        let stdout: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().unwrap());
        let stderr: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().unwrap());
        for pipe in [stdout, stderr] {
            let gathered = Arc::clone(&output);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut text = gathered.lock().unwrap();
                    text.push_str(&line);
                    text.push('\n');
                }
            });
        }
        Runtime { child, output }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // awslambdaric's workers are its children: end the whole group it leads.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

fn awslambdaric(python: &Path, task: &Path, runtime_api: &str) -> Runtime {
    std::fs::write(task.join("app.py"), APP).unwrap();
    let mut command = Command::new(python);
    command
        .args(["-m", "awslambdaric", "app.handler"])
        .current_dir(task)
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_MAX_CONCURRENCY", "2")
        .env("PYTHONPATH", task)
        .env("LAMBDA_TASK_ROOT", task)
        .env("_HANDLER", "app.handler")
        .stdout(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    Runtime::start(command)
}

#[test]
fn awslambdaric_late_answer_under_a_reused_request_id_is_refused_and_the_second_caller_gets_its_own()
 {
    let Some(python) = boto3_python() else {
        return;
    };
    let task = tempfile::tempdir().unwrap();
    let dir = task.path().display().to_string();
    let emulator = emulator(2);
    let runtime = awslambdaric(&python, task.path(), &emulator.runtime_api("ric").unwrap());
    let event = |n: u32| format!(r#"{{"n":{n},"dir":"{dir}"}}"#);
    std::thread::scope(|scope| {
        // The first invocation times out while its handler waits.
        let first = emulator
            .invoke_with_request_id("ric", "reused-id", event(1).as_bytes())
            .unwrap();
        let first = String::from_utf8_lossy(&first.payload).into_owned();
        assert!(first.contains("Task timed out"), "{first}");

        // A retry under the same request id reaches awslambdaric's other worker.
        let second = scope.spawn(|| {
            emulator
                .invoke_with_request_id("ric", "reused-id", event(2).as_bytes())
                .unwrap()
        });
        wait_until("the second delivery", || {
            task.path().join("started-2").exists()
        });

        // Now the first handler answers, late: refused as too late (410), and awslambdaric's
        // multi-concurrent worker logs the refusal and serves on.
        std::fs::write(task.path().join("go-1"), "").unwrap();
        wait_until("the late answer's refusal", || {
            runtime.output().contains("Http response code: 410") || second.is_finished()
        });
        std::fs::write(task.path().join("go-2"), "").unwrap();
        let second = second.join().unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&second.payload).unwrap();
        assert_eq!(
            second.function_error,
            None,
            "{answer}\n{}",
            runtime.output()
        );
        assert_eq!(
            answer["n"], 2,
            "the second caller got the first handler's answer"
        );
        assert_eq!(answer["request_id"], "reused-id");
    });
    let output = runtime.output();
    assert!(
        output.contains(r#"Http response code: 410. {"errorMessage":"Invoke timeout","errorType":"InvokeTimeout"}"#),
        "{output}"
    );
}

#[test]
fn a_shell_bootstrap_that_never_echoes_is_served() {
    let task = tempfile::tempdir().unwrap();
    let bootstrap = task.path().join("bootstrap");
    // The Runtime API by hand, with curl: the nonce is never read nor sent back.
    std::fs::write(
        &bootstrap,
        r#"#!/bin/sh
set -eu
api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation"
while true; do
    headers=$(mktemp)
    event=$(curl -sS -D "$headers" "$api/next")
    id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$headers" | tr -d '\r' | cut -d' ' -f2)
    curl -sS -X POST "$api/$id/response" -d "{\"echo\":$event}" >/dev/null
done
"#,
    )
    .unwrap();
    std::fs::set_permissions(
        &bootstrap,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut function = FunctionConfig::new("sh", &bootstrap);
    function.task_root = task.path().to_path_buf();
    let emulator = Emulator::start(EmulatorConfig::new(vec![function])).unwrap();
    for n in 0..2 {
        let invoked = emulator
            .invoke("sh", format!(r#"{{"n":{n}}}"#).as_bytes())
            .unwrap();
        assert_eq!(invoked.function_error, None);
        assert_eq!(
            String::from_utf8_lossy(&invoked.payload),
            format!(r#"{{"echo":{{"n":{n}}}}}"#)
        );
    }
}
