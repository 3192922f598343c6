//! An emulator that copies function logs to its stderr keeps serving when that stderr is
//! closed (a terminal gone after SIGHUP, a pipe whose reader exited): writing a log line
//! must not panic (#19). The emulator runs in a child process of this test, whose stderr is
//! a pipe with no reader, so every write to it fails with EPIPE.

mod common;

use std::io::Read as _;
use std::process::{Command, Stdio};

use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};

/// Set in the child: it runs the emulator instead of spawning itself.
const CHILD: &str = "LAMINA_CLOSED_STDERR_CHILD";

#[test]
fn function_logs_to_a_closed_stderr_do_not_stop_the_emulator() {
    if std::env::var_os(CHILD).is_some() {
        serve_with_stderr_closed();
        return;
    }
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "function_logs_to_a_closed_stderr_do_not_stop_the_emulator",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(writer))
        .spawn()
        .expect("spawn the test binary");
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read stdout");
    let status = child.wait().expect("wait");
    assert!(
        status.success() && out.contains("answered 3 of 3"),
        "the child failed ({status}):\n{out}"
    );
}

/// In the child: three invocations of a function that prints, logs copied to the closed
/// stderr; each must be answered.
fn serve_with_stderr_closed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bootstrap = common::script(
        dir.path(),
        "bootstrap",
        r#"while true; do next; echo "a line for the log"; respond "$EVENT"; done"#,
    );
    let mut function = FunctionConfig::new("talker", &bootstrap);
    function.task_root = dir.path().to_path_buf();
    let mut config = EmulatorConfig::new(vec![function]);
    config.log_to_stderr = true;
    let emulator = Emulator::start(config).expect("start emulator");
    let mut answered = 0;
    for n in 0..3 {
        let payload = format!("{{\"n\":{n}}}");
        match emulator.invoke("talker", payload.as_bytes()) {
            Ok(invoked) if invoked.payload == payload.as_bytes() => answered += 1,
            Ok(invoked) => println!("invocation {n}: {:?}", invoked.payload),
            Err(err) => println!("invocation {n}: {err}"),
        }
    }
    println!("answered {answered} of 3");
}
