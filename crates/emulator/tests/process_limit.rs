//! Lambda holds a sandbox to 1,024 processes and threads. A function starting 3,000 threads
//! gets at most that many, sees `Resource temporarily unavailable` (EAGAIN) as it would on
//! Lambda, and the emulator keeps serving. Its own test binary: the threads are started by
//! this very binary, run again by the function as a worker.

mod common;

use std::path::Path;

use common::{agent, post, script};
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};

/// Starts `LAMINA_TEST_THREADS` threads that wait, and writes how many started and why the
/// next failed to `LAMINA_TEST_OUT`, as a JSON string; a no-op in a normal run.
#[test]
fn worker() {
    let (Some(wanted), Ok(out)) = (
        std::env::var("LAMINA_TEST_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok()),
        std::env::var("LAMINA_TEST_OUT"),
    ) else {
        return;
    };
    let mut started = 0;
    let mut error = String::from("none");
    for _ in 0..wanted {
        let spawned = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(|| std::thread::sleep(std::time::Duration::from_secs(600)));
        match spawned {
            Ok(_) => started += 1,
            Err(err) => {
                error = err.to_string();
                break;
            }
        }
    }
    let text = format!("\"started {started} of {wanted}; then: {error}\"");
    let tmp = format!("{out}.tmp");
    std::fs::write(&tmp, text).expect("write the result");
    std::fs::rename(&tmp, &out).expect("rename the result");
    // The threads still wait: leave without joining them.
    std::process::exit(0);
}

/// Whether this machine gives instances a pids controller (v2 or v1), said when not.
fn pids_controller() -> bool {
    let root = Path::new("/sys/fs/cgroup");
    let here = std::fs::read_to_string(root.join("cgroup.controllers"))
        .map(|c| c.split_whitespace().any(|c| c == "pids"))
        .unwrap_or_else(|_| root.join("pids/cgroup.procs").exists());
    if !here {
        eprintln!("SKIPPED: no pids cgroup controller here (or not root)");
    }
    here
}

#[test]
fn three_thousand_threads_get_lambdas_1024_and_the_emulator_keeps_serving() {
    if !pids_controller() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("threads.json");
    let exe = std::env::current_exe().expect("test binary");
    let body = format!(
        r#"while true; do
  next
  case "$EVENT" in
    '"threads"')
      rm -f '{out}'
      LAMINA_TEST_THREADS=3000 LAMINA_TEST_OUT='{out}' '{exe}' --exact worker -q >/dev/null 2>&1
      respond "$(cat '{out}')" ;;
    *) respond '"still serving"' ;;
  esac
done"#,
        out = out.display(),
        exe = exe.display()
    );
    let mut function = FunctionConfig::new("threads", script(dir.path(), "bootstrap", &body));
    function.memory_mb = 1024;
    let emulator = Emulator::start(EmulatorConfig::new(vec![function])).expect("start");
    let agent = agent();
    let url = emulator.invoke_url("threads");

    let answer = post(&agent, &url, &[], b"\"threads\"");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let started: u32 = answer
        .body
        .trim_start_matches("\"started ")
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {}", answer.body));
    eprintln!("{}", answer.body);
    assert!(
        started < lamina_context::facts::MAX_PROCESSES,
        "{started} threads started in one sandbox; Lambda allows {} processes and threads",
        lamina_context::facts::MAX_PROCESSES
    );
    // The shell, curl and the worker's own threads take a few of the 1,024.
    assert!(started > 900, "only {started} threads started");
    assert!(
        answer.body.contains("Resource temporarily unavailable"),
        "{}",
        answer.body
    );
    // The same instance serves on.
    let next = post(&agent, &url, &[], b"{}");
    assert_eq!(next.body, "\"still serving\"");
    emulator.shutdown();
}
