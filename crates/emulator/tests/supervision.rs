//! Starting, timing out, crashing and restarting real function processes.

mod common;

use std::time::Duration;

use common::{agent, platform_lines, post, redact, script, wait_until};
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};

fn start(function: FunctionConfig) -> Emulator {
    Emulator::start(EmulatorConfig::new(vec![function])).expect("start emulator")
}

/// Answers `{"pid":…}`, sleeps on `"sleep"`, dies by SIGABRT on `"abort"`, exits 134 on `"exit"`.
const MOODY: &str = r#"
while true; do
  next
  case "$EVENT" in
    '"sleep"') sleep 20 ;;
    '"abort"') echo "about to abort"; kill -ABRT $$ ;;
    '"exit"') echo "about to exit"; exit 134 ;;
  esac
  respond "{\"pid\":$$}"
done"#;

#[test]
fn a_timed_out_function_is_killed_and_the_next_invoke_gets_a_fresh_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut function = FunctionConfig::new("moody", script(dir.path(), "bootstrap", MOODY));
    function.timeout = Duration::from_secs(1);
    let emulator = start(function);
    let agent = agent();
    let url = emulator.invoke_url("moody");

    let first = post(&agent, &url, &[], b"{}");
    assert_eq!(first.status, 200);
    let timed_out = post(&agent, &url, &[], b"\"sleep\"");
    assert_eq!(timed_out.status, 200);
    assert_eq!(timed_out.header("X-Amz-Function-Error"), Some("Unhandled"));
    assert!(
        timed_out.body.contains("Task timed out after 1.00 seconds"),
        "{}",
        timed_out.body
    );
    insta::assert_snapshot!("timeout_body", redact(&timed_out.body));
    let after = post(&agent, &url, &[], b"{}");
    assert_eq!(after.status, 200);
    assert_eq!(after.header("X-Amz-Function-Error"), None);
    assert_ne!(
        first.body, after.body,
        "a fresh process (another pid) serves after a timeout"
    );
    insta::assert_snapshot!(
        "timeout_log",
        redact(&platform_lines(&emulator.logs("moody")))
    );
}

#[test]
fn a_crash_answers_with_the_exit_status_and_the_next_invoke_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let emulator = start(FunctionConfig::new(
        "moody",
        script(dir.path(), "bootstrap", MOODY),
    ));
    let agent = agent();
    let url = emulator.invoke_url("moody");

    let aborted = post(&agent, &url, &[], b"\"abort\"");
    assert_eq!(aborted.status, 200);
    assert_eq!(aborted.header("X-Amz-Function-Error"), Some("Unhandled"));
    insta::assert_snapshot!("abort_body", redact(&aborted.body));
    let ok = post(&agent, &url, &[], b"{}");
    assert_eq!(ok.header("X-Amz-Function-Error"), None, "{}", ok.body);
    let exited = post(&agent, &url, &[("X-Amz-Log-Type", "Tail")], b"\"exit\"");
    assert_eq!(exited.header("X-Amz-Function-Error"), Some("Unhandled"));
    insta::assert_snapshot!("exit_body", redact(&exited.body));
    let again = post(&agent, &url, &[], b"{}");
    assert_eq!(again.header("X-Amz-Function-Error"), None, "{}", again.body);
    insta::assert_snapshot!(
        "crash_log",
        redact(&platform_lines(&emulator.logs("moody")))
    );
}

#[test]
fn an_init_error_is_reported_and_the_next_invoke_starts_afresh() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The first start fails its init; later starts work.
    let body = r#"
if [ ! -e ./started-once ]; then
  touch ./started-once
  echo "loading config failed"
  init_fail Runtime.InitError "config missing"
  exit 1
fi
while true; do next; respond '"ready"'; done"#;
    let emulator = start(FunctionConfig::new(
        "init",
        script(dir.path(), "bootstrap", body),
    ));
    let agent = agent();
    let url = emulator.invoke_url("init");

    let failed = post(&agent, &url, &[("X-Amz-Log-Type", "Tail")], b"{}");
    assert_eq!(failed.status, 200);
    assert_eq!(failed.header("X-Amz-Function-Error"), Some("Unhandled"));
    assert_eq!(
        failed.body,
        r#"{"errorMessage":"config missing","errorType":"Runtime.InitError"}"#
    );
    let next = post(&agent, &url, &[], b"{}");
    assert_eq!(next.body, "\"ready\"");
    assert_eq!(next.header("X-Amz-Function-Error"), None);
    insta::assert_snapshot!(
        "init_error_log",
        redact(&platform_lines(&emulator.logs("init")))
    );
}

#[test]
fn exiting_before_the_first_next_is_an_init_failure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let emulator = start(FunctionConfig::new(
        "quitter",
        script(dir.path(), "bootstrap", "exit 3"),
    ));
    let answer = post(&agent(), &emulator.invoke_url("quitter"), &[], b"{}");
    assert_eq!(answer.header("X-Amz-Function-Error"), Some("Unhandled"));
    insta::assert_snapshot!("exit_before_next_body", redact(&answer.body));
}

#[test]
fn a_bootstrap_that_cannot_be_executed_is_an_invalid_entrypoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bootstrap");
    std::fs::write(&path, "not executable").expect("write");
    let emulator = start(FunctionConfig::new("broken", &path));
    let answer = post(&agent(), &emulator.invoke_url("broken"), &[], b"{}");
    assert_eq!(answer.header("X-Amz-Function-Error"), Some("Unhandled"));
    let body = redact(&answer.body).replace(&*dir.path().to_string_lossy(), "[dir]");
    insta::assert_snapshot!("invalid_entrypoint_body", body);
}

#[test]
fn shutdown_kills_the_function_and_its_children() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = r#"sleep 300 & echo $! > ./child.pid; echo $$ > ./main.pid; while true; do next; respond '{}'; done"#;
    let emulator = start(FunctionConfig::new(
        "f",
        script(dir.path(), "bootstrap", body),
    ));
    post(&agent(), &emulator.invoke_url("f"), &[], b"{}");
    let pid = |file: &str| {
        std::fs::read_to_string(dir.path().join(file))
            .expect("pid")
            .trim()
            .to_string()
    };
    let (main, child) = (pid("main.pid"), pid("child.pid"));
    let alive = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            !stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    };
    assert!(alive(&main) && alive(&child));
    emulator.shutdown();
    wait_until("the function's processes to be gone", || {
        !alive(&main) && !alive(&child)
    });
}

#[test]
fn report_lines_measure_real_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let emulator = start(FunctionConfig::new(
        "f",
        script(dir.path(), "bootstrap", common::ECHO),
    ));
    post(&agent(), &emulator.invoke_url("f"), &[], b"{}");
    let logs = emulator.logs("f");
    let report = logs
        .lines()
        .find(|l| l.starts_with("REPORT"))
        .expect("REPORT line");
    let used: u64 = report
        .split("Max Memory Used: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("Max Memory Used");
    // A shell's peak resident set is at least some hundreds of KiB, i.e. 1 MB rounded up.
    assert!(used >= 1, "{report}");
}

#[test]
fn invoke_without_http_answers_like_the_invoke_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let emulator = start(FunctionConfig::new(
        "moody",
        script(dir.path(), "bootstrap", MOODY),
    ));
    let ok = emulator.invoke("moody", b"{}").expect("invoke");
    assert!(
        ok.payload.starts_with(b"{\"pid\":"),
        "{:?}",
        String::from_utf8_lossy(&ok.payload)
    );
    assert_eq!(ok.function_error, None);
    assert!(
        ok.log_tail
            .starts_with(&format!("START RequestId: {}", ok.request_id))
    );
    let crashed = emulator.invoke("moody", b"\"abort\"").expect("invoke");
    assert_eq!(crashed.function_error.as_deref(), Some("Unhandled"));
    assert!(emulator.invoke("nobody", b"{}").is_err());
    assert!(emulator.invoke("moody", b"{oops").is_err());
}

#[test]
fn an_init_that_never_reaches_next_times_out_and_the_next_invoke_starts_afresh() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = r#"
if [ ! -e ./started-once ]; then touch ./started-once; echo "warming up forever"; sleep 60; fi
while true; do next; respond '"warm"'; done"#;
    let mut function = FunctionConfig::new("slow", script(dir.path(), "bootstrap", body));
    function.init_timeout = Duration::from_secs(1);
    let emulator = start(function);
    let agent = agent();
    let url = emulator.invoke_url("slow");
    let failed = post(&agent, &url, &[], b"{}");
    assert_eq!(failed.header("X-Amz-Function-Error"), Some("Unhandled"));
    assert!(failed.body.contains("Sandbox.Timedout"), "{}", failed.body);
    let next = post(&agent, &url, &[], b"{}");
    assert_eq!(next.body, "\"warm\"");
    let log = emulator.logs("slow");
    let init_report = log
        .lines()
        .find(|l| l.starts_with("INIT_REPORT"))
        .expect("INIT_REPORT");
    assert!(init_report.contains("Status: timeout"), "{init_report}");
    assert!(log.contains("warming up forever"));
}
