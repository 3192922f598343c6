//! lamina-runtime functions run as real processes under lamina-emulator, invoked over real
//! HTTP on the Invoke API. After each failure, the next invocation must succeed where AWS
//! would continue.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};
use serde_json::{Value, json};

const FUNCTION: &str = env!("CARGO_BIN_EXE_e2e-function");
const ASYNC_FUNCTION: &str = env!("CARGO_BIN_EXE_e2e-async");
const RAW_FUNCTION: &str = env!("CARGO_BIN_EXE_e2e-raw");

/// What the Invoke API answered.
#[derive(Debug)]
struct Answer {
    status: u16,
    function_error: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.body))
    }

    /// Asserts a function error of `error_type` and returns its message.
    fn expect_error(&self, error_type: &str) -> String {
        assert_eq!(self.status, 200, "{self:?}");
        assert_eq!(
            self.function_error.as_deref(),
            Some("Unhandled"),
            "{self:?}"
        );
        let body = self.json();
        assert_eq!(body["errorType"], error_type, "{self:?}");
        body["errorMessage"].as_str().unwrap().to_string()
    }

    /// Asserts a success and returns the body as JSON.
    fn expect_ok(&self) -> Value {
        assert_eq!(self.status, 200, "{self:?}");
        assert_eq!(self.function_error, None, "{self:?}");
        self.json()
    }
}

struct Function {
    emulator: Emulator,
    name: &'static str,
}

impl Function {
    fn start(executable: &str, configure: impl FnOnce(&mut FunctionConfig)) -> Self {
        let name = "e2e";
        let mut config = FunctionConfig::new(name, executable);
        config.timeout = Duration::from_secs(10);
        configure(&mut config);
        let emulator = Emulator::start(EmulatorConfig::new(vec![config])).unwrap();
        Self { emulator, name }
    }

    fn invoke(&self, payload: &str) -> Answer {
        // A safety bound only: no invocation here should come near it.
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .new_agent();
        let mut response = agent
            .post(self.emulator.invoke_url(self.name))
            .send(payload)
            .unwrap();
        Answer {
            status: response.status().as_u16(),
            function_error: response
                .headers()
                .get("X-Amz-Function-Error")
                .map(|value| value.to_str().unwrap().to_string()),
            body: response.body_mut().read_to_string().unwrap(),
        }
    }

    fn logs(&self) -> String {
        self.emulator.logs(self.name)
    }

    /// Asserts the function serves a normal event, and returns how many invocations its
    /// process has served (1 after a restart).
    fn expect_healthy(&self) -> u64 {
        let body = self.invoke(r#"{"name":"Ada"}"#).expect_ok();
        assert_eq!(body["message"], "Hello, Ada!", "{body}");
        body["invocations"].as_u64().unwrap()
    }
}

fn function() -> Function {
    Function::start(FUNCTION, |_| {})
}

#[test]
fn success() {
    let function = function();
    assert_eq!(function.expect_healthy(), 1);
    assert_eq!(
        function.expect_healthy(),
        2,
        "one process serves every event"
    );
}

#[test]
fn context_carries_the_emulators_headers() {
    let function = function();
    let body = function.invoke(r#"{"do":"context"}"#).expect_ok();
    let remaining = body["remaining_ms"].as_u64().unwrap();
    assert!(
        remaining > 0 && remaining <= 10_000,
        "deadline must be within the 10 s timeout: {body}"
    );
    assert!(!body["request_id"].as_str().unwrap().is_empty());
    assert_eq!(body["trace_env"], body["trace_id"], "{body}");
}

#[test]
fn handler_error_keeps_its_own_type_and_the_process_goes_on() {
    let function = function();
    let message = function
        .invoke(r#"{"do":"error"}"#)
        .expect_error("Order.NotFound");
    assert_eq!(message, "no order 42");
    assert_eq!(function.expect_healthy(), 2, "same process");
}

#[test]
fn bad_event_names_the_json_path() {
    let function = function();
    let message = function
        .invoke(r#"{"name":5}"#)
        .expect_error("Runtime.DeserializationError");
    assert!(message.contains("at `name`"), "{message}");
    assert_eq!(
        function.expect_healthy(),
        1,
        "the bad event never reached the handler"
    );
}

#[test]
fn panic_is_reported_and_the_process_goes_on() {
    let function = function();
    let message = function
        .invoke(r#"{"do":"panic"}"#)
        .expect_error("Runtime.HandlerPanic");
    assert_eq!(message, "asked to panic");
    assert_eq!(function.expect_healthy(), 2, "same process after the panic");
}

#[test]
fn oversized_response_is_reported_not_posted() {
    let function = function();
    let message = function
        .invoke(r#"{"do":"big"}"#)
        .expect_error("Runtime.ResponseTooLarge");
    assert_eq!(
        message,
        "the response is 6291558 bytes, over Lambda's limit of 6291556 bytes"
    );
    assert_eq!(function.expect_healthy(), 2);
}

#[test]
fn init_failure_is_posted_and_the_process_exits() {
    let function = Function::start(FUNCTION, |config| {
        config.env.push(("E2E_INIT".into(), "fail".into()));
    });
    let message = function
        .invoke(r#"{"name":"Ada"}"#)
        .expect_error("E2E.InitFailed");
    assert_eq!(message, "E2E_INIT asked init to fail");
    // Every fresh process fails init the same way, as on AWS.
    function
        .invoke(r#"{"name":"Ada"}"#)
        .expect_error("E2E.InitFailed");
}

/// A one-request Runtime API: answers 202 to whatever comes first and returns its request
/// line and headers.
fn accept_one_post(listener: std::net::TcpListener) -> std::thread::JoinHandle<String> {
    use std::io::{BufRead, BufReader, Write};
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim_end().is_empty() {
                break;
            }
            head.push_str(&line);
        }
        let mut writer = stream;
        writer
            .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        head
    })
}

#[test]
fn init_failure_exits_non_zero_after_posting() {
    // The emulator kills a process once it has posted its init error, as Lambda resets the
    // sandbox; this checks the runtime exits on its own, run alone against one canned answer.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let server = accept_one_post(listener);
    let (code, stderr) = run_alone(
        FUNCTION,
        &[("AWS_LAMBDA_RUNTIME_API", &address), ("E2E_INIT", "fail")],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr,
        "lamina-runtime: fatal: init failed with E2E.InitFailed: E2E_INIT asked init to fail\n"
    );
    let head = server.join().unwrap().to_ascii_lowercase();
    assert!(
        head.starts_with("post /2018-06-01/runtime/init/error http/1.1"),
        "{head}"
    );
    assert!(
        head.contains("lambda-runtime-function-error-type: e2e.initfailed"),
        "{head}"
    );
}

#[test]
fn init_panic_is_posted() {
    let function = Function::start(FUNCTION, |config| {
        config.env.push(("E2E_INIT".into(), "panic".into()));
    });
    let message = function.invoke("{}").expect_error("Runtime.InitPanic");
    assert_eq!(message, "E2E_INIT asked init to panic");
}

#[test]
fn malformed_config_is_posted_as_init_error() {
    let function = Function::start(FUNCTION, |config| {
        config
            .env
            .push(("AWS_LAMBDA_LOG_FORMAT".into(), "XML".into()));
    });
    let message = function.invoke("{}").expect_error("Runtime.ConfigError");
    assert_eq!(
        message,
        "environment variable AWS_LAMBDA_LOG_FORMAT has invalid value \"XML\": expected Text or JSON"
    );
}

#[test]
fn crash_mid_invocation_then_a_fresh_process_serves() {
    let function = function();
    function.expect_healthy();
    let answer = function.invoke(r#"{"do":"abort"}"#);
    assert_eq!(
        answer.function_error.as_deref(),
        Some("Unhandled"),
        "{answer:?}"
    );
    assert_eq!(
        answer.json()["errorType"],
        "Runtime.ExitError",
        "{answer:?}"
    );
    assert_eq!(function.expect_healthy(), 1, "a fresh process");
}

#[test]
fn timeout_then_a_fresh_process_serves() {
    let function = Function::start(FUNCTION, |config| {
        config.timeout = Duration::from_secs(1);
    });
    let answer = function.invoke(r#"{"do":"sleep","ms":30000}"#);
    assert_eq!(
        answer.function_error.as_deref(),
        Some("Unhandled"),
        "{answer:?}"
    );
    let message = answer.json()["errorMessage"].as_str().unwrap().to_string();
    assert!(
        message.contains("Task timed out after 1.00 seconds"),
        "{message}"
    );
    assert_eq!(function.expect_healthy(), 1, "a fresh process");
}

#[test]
fn json_logs_carry_the_request_id_and_respect_the_level() {
    let function = Function::start(FUNCTION, |config| {
        config
            .env
            .push(("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()));
        config
            .env
            .push(("AWS_LAMBDA_LOG_LEVEL".into(), "INFO".into()));
    });
    let body = function.invoke(r#"{"do":"log"}"#).expect_ok();
    assert_eq!(body["logged"], true);
    let logs = function.logs();
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line.get("level").is_some())
        .collect();
    let visible = lines
        .iter()
        .find(|line| {
            line["message"]
                .as_str()
                .is_some_and(|message| message.starts_with("visible line for "))
        })
        .unwrap_or_else(|| panic!("no visible line in:\n{logs}"));
    assert_eq!(visible["level"], "INFO");
    let request_id = visible["requestId"].as_str().unwrap();
    assert_eq!(
        visible["message"],
        format!("visible line for {request_id}"),
        "the line carries the request id of its invocation"
    );
    assert!(!logs.contains("hidden line"), "{logs}");
    let init = lines
        .iter()
        .find(|line| line["message"] == "init done")
        .unwrap_or_else(|| panic!("no init line in:\n{logs}"));
    assert!(init.get("requestId").is_none(), "{init}");
}

#[test]
fn text_logs_are_tab_separated_with_the_request_id() {
    let function = function();
    function.invoke(r#"{"do":"log"}"#).expect_ok();
    let logs = function.logs();
    let line = logs
        .lines()
        .find(|line| line.contains("visible line for "))
        .unwrap_or_else(|| panic!("no visible line in:\n{logs}"));
    let fields: Vec<&str> = line.split('\t').collect();
    assert_eq!(fields.len(), 4, "{line:?}");
    assert!(fields[0].ends_with('Z'), "{line:?}");
    assert_eq!(fields[2], "INFO");
    assert_eq!(fields[3], format!("visible line for {}", fields[1]));
}

#[test]
fn async_handler() {
    let function = Function::start(ASYNC_FUNCTION, |_| {});
    for name in ["Ada", "Grace"] {
        let body = function
            .invoke(&json!({ "name": name }).to_string())
            .expect_ok();
        assert_eq!(body["message"], format!("Hello, {name}!"));
        assert!(!body["request_id"].as_str().unwrap().is_empty());
    }
}

#[test]
fn raw_handler_with_init_and_its_own_error_type() {
    let function = Function::start(RAW_FUNCTION, |_| {});
    let answer = function.invoke(r#""abc""#);
    assert_eq!(answer.function_error, None, "{answer:?}");
    assert_eq!(answer.body, "e2e:\"cba\"");
}

/// Runs `executable` with only `env`, and returns (exit code, stderr); kills it after 30 s,
/// a safety bound only.
fn run_alone(executable: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut child = Command::new(executable)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("{executable} still running after 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn next_unreachable_exits_non_zero_saying_what_failed() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = closed.local_addr().unwrap().to_string();
    drop(closed);
    let (code, stderr) = run_alone(FUNCTION, &[("AWS_LAMBDA_RUNTIME_API", &address)]);
    assert_eq!(code, Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap();
    assert!(
        last.starts_with(&format!(
            "lamina-runtime: fatal: GET http://{address}/2018-06-01/runtime/invocation/next \
             failed 6 times, giving up; last failure: "
        )),
        "{stderr}"
    );
}

#[test]
fn missing_or_unusable_runtime_api_exits_non_zero_naming_it() {
    let (code, stderr) = run_alone(FUNCTION, &[]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        "lamina-runtime: fatal: environment variable AWS_LAMBDA_RUNTIME_API is not set\n"
    );
    let (code, stderr) = run_alone(FUNCTION, &[("AWS_LAMBDA_RUNTIME_API", "https://x:1")]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("\"https://x:1\""), "{stderr}");
}
