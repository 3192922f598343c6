//! Containment of instances in cgroups, with real processes: the memory limit, Max Memory Used
//! over every process, a kill that reaches `setsid()` children, and freezing between
//! invocations. Each test skips, saying why, where this machine cannot make cgroups.
//!
//! Memory is allocated by this very test binary, run again by the function as a worker (the
//! `worker` test below, which does nothing unless `LAMINA_TEST_ALLOC_MB` is set): exact
//! allocations without depending on an interpreter.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{agent, post, script, wait_until};
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Whether this machine lets us make cgroups (v2 with memory, or v1 memory, freezer and
/// pids), found by making and removing one; says why not on stderr.
fn cgroups_usable(test: &str) -> bool {
    let root = Path::new(CGROUP_ROOT);
    let v2 = std::fs::read_to_string(root.join("cgroup.controllers"))
        .is_ok_and(|c| c.split_whitespace().any(|c| c == "memory"));
    let probe_parents: Vec<PathBuf> = if v2 {
        vec![root.to_path_buf()]
    } else {
        ["memory", "freezer", "pids"]
            .iter()
            .map(|c| root.join(c))
            .collect()
    };
    for parent in probe_parents {
        let probe = parent.join(format!("lamina-probe-{}", std::process::id()));
        let made = std::fs::create_dir(&probe);
        let _ = std::fs::remove_dir(&probe);
        if let Err(err) = made {
            eprintln!(
                "SKIPPED {test}: cannot make a cgroup under {} ({err}); run as root on a machine \
                 with cgroup v2 or the v1 memory, freezer and pids controllers",
                parent.display()
            );
            return false;
        }
    }
    true
}

/// Allocates and touches `LAMINA_TEST_ALLOC_MB` MB, then exits; a no-op in a normal run.
#[test]
fn worker() {
    let Some(mb) = std::env::var("LAMINA_TEST_ALLOC_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    else {
        return;
    };
    let mut memory = vec![0u8; mb << 20];
    // Zeroed pages are not resident until written: touch every page.
    for page in memory.chunks_mut(4096) {
        page[0] = 1;
    }
    std::hint::black_box(&memory);
}

/// Shell that runs the `worker` test of this binary allocating `$1` MB, replacing the shell
/// if `exec` is `"exec "`.
fn worker_command(exec: &str) -> String {
    let exe = std::env::current_exe().expect("test binary path");
    format!(
        "LAMINA_TEST_ALLOC_MB=\"$1\" {exec}'{}' --exact worker -q >/dev/null 2>&1",
        exe.display()
    )
}

fn start(function: FunctionConfig) -> Emulator {
    Emulator::start(EmulatorConfig::new(vec![function])).expect("start emulator")
}

/// The `Max Memory Used` of the last REPORT line in `log`.
fn max_memory_used(log: &str) -> u64 {
    let report = log
        .lines()
        .rfind(|l| l.starts_with("REPORT "))
        .unwrap_or_else(|| panic!("no REPORT line in:\n{log}"));
    let after = report
        .split("Max Memory Used: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no Max Memory Used in {report}"));
    after
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number in {report}"))
}

#[test]
fn a_handler_over_its_memory_ends_out_of_memory_and_the_next_invoke_works() {
    if !cgroups_usable("a_handler_over_its_memory_ends_out_of_memory") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // The runtime process itself (exec'd into the worker) allocates 400 MB, at 128 MB.
    let body = format!(
        r#"alloc() {{ {}; }}
while true; do
  next
  case "$EVENT" in
    '"big"') alloc 400 ;;
  esac
  respond '"small"'
done"#,
        worker_command("exec ")
    );
    let mut function = FunctionConfig::new("oom", script(dir.path(), "bootstrap", &body));
    function.memory_mb = 128;
    let emulator = start(function);
    let agent = agent();
    let url = emulator.invoke_url("oom");

    let big = post(&agent, &url, &[], b"\"big\"");
    assert_eq!(big.status, 200);
    assert_eq!(big.header("X-Amz-Function-Error"), Some("Unhandled"));
    assert!(
        big.body.contains(r#""errorType":"Runtime.OutOfMemory""#),
        "{}",
        big.body
    );
    assert!(
        big.body
            .contains("Error: Runtime exited with error: signal: killed"),
        "{}",
        big.body
    );
    let log = emulator.logs("oom");
    let report = log
        .lines()
        .rfind(|l| l.starts_with("REPORT "))
        .expect("REPORT");
    assert!(report.contains("Status: error"), "{report}");
    assert!(max_memory_used(&log) <= 128, "the limit held: {report}");
    let small = post(&agent, &url, &[], b"{}");
    assert_eq!(small.header("X-Amz-Function-Error"), None, "{}", small.body);
    assert_eq!(small.body, "\"small\"");
}

#[test]
fn a_worker_over_the_memory_ends_the_instance_though_the_runtime_lives_on() {
    if !cgroups_usable("a_worker_over_the_memory_ends_the_instance") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // As in the runtime layer: the worker runs in a session of its own and the runtime
    // answers whatever became of it.
    let body = format!(
        r#"alloc() {{ setsid -w sh -c '{}' sh "$1"; }}
while true; do
  next
  case "$EVENT" in
    '"big"') alloc 400 ;;
  esac
  respond '"survived"'
done"#,
        worker_command("").replace('\'', "'\\''")
    );
    let mut function = FunctionConfig::new("oomworker", script(dir.path(), "bootstrap", &body));
    function.memory_mb = 128;
    let emulator = start(function);
    let agent = agent();
    let url = emulator.invoke_url("oomworker");

    let big = post(&agent, &url, &[], b"\"big\"");
    assert_eq!(
        big.header("X-Amz-Function-Error"),
        Some("Unhandled"),
        "{}",
        big.body
    );
    assert!(
        big.body.contains(r#""errorType":"Runtime.OutOfMemory""#),
        "{}",
        big.body
    );
    let log = emulator.logs("oomworker");
    let report = log
        .lines()
        .rfind(|l| l.starts_with("REPORT "))
        .expect("REPORT");
    assert!(report.contains("Status: error"), "{report}");
    let small = post(&agent, &url, &[], b"{}");
    assert_eq!(small.header("X-Amz-Function-Error"), None, "{}", small.body);
    assert_eq!(small.body, "\"survived\"");
}

#[test]
fn max_memory_used_counts_a_worker_in_a_session_of_its_own() {
    if !cgroups_usable("max_memory_used_counts_a_worker_in_a_session_of_its_own") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let allocated_mb = 300;
    // setsid: the worker leaves the runtime's process group, as the runtime layer's
    // workers do; only a cgroup still sees it.
    let body = format!(
        r#"alloc() {{ setsid -w sh -c '{}' sh "$1"; }}
while true; do
  next
  alloc {allocated_mb}
  respond '"done"'
done"#,
        worker_command("").replace('\'', "'\\''")
    );
    let mut function = FunctionConfig::new("measured", script(dir.path(), "bootstrap", &body));
    function.memory_mb = 1024;
    let emulator = start(function);
    let answer = post(&agent(), &emulator.invoke_url("measured"), &[], b"{}");
    assert_eq!(answer.body, "\"done\"");
    let used = max_memory_used(&emulator.logs("measured"));
    eprintln!("Max Memory Used {used} MB for {allocated_mb} MB allocated");
    let tolerance = allocated_mb / 10;
    assert!(
        used.abs_diff(allocated_mb) <= tolerance,
        "Max Memory Used {used} MB is not within 10% of the {allocated_mb} MB allocated"
    );
}

fn process_is_gone(pid: u32) -> bool {
    // A zombie (state Z) is dead, waiting for whoever reaps orphans here.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z"),
    }
}

#[test]
fn a_timeout_kills_a_child_that_called_setsid() {
    if !cgroups_usable("a_timeout_kills_a_child_that_called_setsid") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("escaped.pid");
    let body = format!(
        r#"while true; do
  next
  setsid sh -c 'echo $$ > "$1.tmp"; mv "$1.tmp" "$1"; exec sleep 1000' sh '{}' &
  sleep 20
  respond '"late"'
done"#,
        pid_file.display()
    );
    let mut function = FunctionConfig::new("escaper", script(dir.path(), "bootstrap", &body));
    function.timeout = Duration::from_secs(1);
    let emulator = start(function);
    let answer = post(&agent(), &emulator.invoke_url("escaper"), &[], b"{}");
    assert!(answer.body.contains("Task timed out"), "{}", answer.body);
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .expect("the child wrote its pid")
        .trim()
        .parse()
        .expect("a pid");
    wait_until("the setsid() child to be killed", || process_is_gone(pid));
    drop(emulator);
}

/// Whether the cgroup of function `name` of this process's emulator is frozen.
fn frozen(name: &str) -> bool {
    let root = Path::new(CGROUP_ROOT);
    let parent = format!("lamina-emulator-{}", std::process::id());
    let (parent, file) = if root.join("cgroup.controllers").exists() {
        (root.join(parent), "cgroup.events")
    } else {
        (root.join("freezer").join(parent), "freezer.state")
    };
    let Ok(entries) = std::fs::read_dir(parent) else {
        return false;
    };
    entries.flatten().any(|entry| {
        entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(&format!("{name}-")))
            && std::fs::read_to_string(entry.path().join(file))
                .is_ok_and(|text| text.lines().any(|l| l == "FROZEN" || l == "frozen 1"))
    })
}

#[test]
fn a_pending_timer_does_not_run_while_frozen_between_invocations() {
    if !cgroups_usable("a_pending_timer_does_not_run_while_frozen_between_invocations") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let ticks = dir.path().join("ticks");
    let body = format!(
        r#"(while true; do echo tick >> '{}'; sleep 0.05; done) &
while true; do
  next
  sleep 0.5
  respond '"ok"'
done"#,
        ticks.display()
    );
    let emulator = start(FunctionConfig::new(
        "ticker",
        script(dir.path(), "bootstrap", &body),
    ));
    let agent = agent();
    let url = emulator.invoke_url("ticker");
    let size = || std::fs::metadata(&ticks).map(|m| m.len()).unwrap_or(0);

    // Control: while an invocation runs, the timer ticks.
    let before = size();
    assert_eq!(post(&agent, &url, &[], b"{}").body, "\"ok\"");
    let after = size();
    assert!(after > before, "the timer runs during an invocation");

    wait_until("the idle instance to be frozen", || frozen("ticker"));
    let idle_start = size();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        size(),
        idle_start,
        "the timer ran while the instance was idle"
    );

    // Thawed for the next invocation, it ticks again.
    assert_eq!(post(&agent, &url, &[], b"{}").body, "\"ok\"");
    assert!(size() > idle_start, "the timer runs again once thawed");
}
