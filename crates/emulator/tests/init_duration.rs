//! Init Duration as Lambda counts it: from the moment the bootstrap is executed to its first
//! `/next`. The emulator's own set-up before that (cgroup, user and mount namespaces, the
//! view's mounts) is not counted; with `verbose` it is logged apart.
//!
//! The issue is a duration, so these tests read durations, with bounds a loaded 2-core machine
//! keeps: the tight figures are measured in the README ("Cold start").

mod common;

use std::path::Path;
use std::time::Duration;

use common::{PRELUDE, agent, post};
use lamina_emulator::layout::namespaces_available;
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig, LambdaMounts, View};

/// How long the bootstrap sleeps before its first `/next`.
const SLEEP: Duration = Duration::from_millis(200);

/// Over [`SLEEP`], what the bootstrap itself spends (bash, `sleep` and `curl` starting) plus
/// scheduling on a busy machine. The emulator's set-up is not in it.
const SLACK: Duration = Duration::from_millis(200);

/// How long the views' set-up takes in these tests at least: `unshare` is found on the
/// function's `PATH` and the tests put a slow one first, so that counting the set-up (as
/// before #23) shows past any slack.
const SLOW_SETUP: Duration = Duration::from_millis(300);

/// Most that Init Duration may exceed the bootstrap's own measure of its start (bash's
/// `$EPOCHREALTIME` on its first line to just before its first `/next`): bash starting, `curl`
/// starting and connecting, the emulator answering. Counting the emulator's set-up too (as
/// before #23) adds about 100 ms in the AL2023 view on a 2-core machine.
const RESIDUAL: Duration = Duration::from_millis(100);

/// A bash bootstrap that sleeps [`SLEEP`] before its first `/next` and answers it with its
/// own clock: `STARTED READY`, bash's `$EPOCHREALTIME` on its first line and just before the
/// `/next`. The headers go to /tmp: /var/task is read-only in a view.
fn bootstrap(dir: &Path) -> std::path::PathBuf {
    let task = dir.join("task");
    std::fs::create_dir_all(&task).expect("task");
    let body = format!(
        "sleep {}\nREADY=$EPOCHREALTIME\nnext; respond \"\\\"$STARTED $READY\\\"\"\n\
         while true; do next; respond \"$EVENT\"; done\n",
        SLEEP.as_secs_f64()
    );
    let prelude = PRELUDE
        .replace("#!/bin/sh\n", "#!/bin/bash\nSTARTED=$EPOCHREALTIME\n")
        .replace(r#"HDRS="./.headers.$$""#, r#"HDRS="/tmp/.headers.$$""#);
    let path = task.join("bootstrap");
    std::fs::write(&path, format!("{prelude}\n{body}")).expect("write");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// The function run directly (`view: None`) or in a view, whose set-up then takes at least
/// [`SLOW_SETUP`].
fn function(dir: &Path, view: Option<View>) -> FunctionConfig {
    let path = bootstrap(dir);
    match view {
        None => FunctionConfig::new("sleepy", path),
        Some(view) => {
            let opt = dir.join("opt");
            std::fs::create_dir_all(&opt).expect("opt");
            let mut config = FunctionConfig::new("sleepy", "/var/task/bootstrap");
            config.task_root = "/var/task".into();
            config.mounts = Some(LambdaMounts {
                task: dir.join("task"),
                opt,
                view,
            });
            config.env.push(("PATH".into(), slow_unshare(dir)));
            config
        }
    }
}

/// A `PATH` whose first `unshare` sleeps [`SLOW_SETUP`], then runs the real one: the view's
/// set-up made slow. (Inside the view, that folder is under the hidden host /tmp.)
fn slow_unshare(dir: &Path) -> String {
    let real = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .chain(["/usr/bin".into(), "/bin".into()])
        .map(|folder| folder.join("unshare"))
        .find(|candidate| candidate.is_file())
        .expect("unshare on PATH");
    let wrappers = dir.join("slow");
    std::fs::create_dir_all(&wrappers).expect("slow");
    let unshare = wrappers.join("unshare");
    std::fs::write(
        &unshare,
        format!(
            "#!/bin/sh\nsleep {}\nexec {} \"$@\"\n",
            SLOW_SETUP.as_secs_f64(),
            real.display()
        ),
    )
    .expect("write");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&unshare, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    format!("{}:/usr/local/bin:/usr/bin:/bin", wrappers.display())
}

/// Invokes once (cold) and returns the function's log and the bootstrap's own measure of
/// its start to its first `/next`.
fn cold_log(config: FunctionConfig, verbose: bool) -> (String, Duration) {
    let mut emulator_config = EmulatorConfig::new(vec![config]);
    emulator_config.verbose = verbose;
    let emulator = Emulator::start(emulator_config).expect("start");
    let answer = post(&agent(), &emulator.invoke_url("sleepy"), &[], b"{\"n\":1}");
    let log = emulator.logs("sleepy");
    assert_eq!(answer.status, 200, "{}\n{log}", answer.body);
    let own = answer
        .body
        .trim_matches('"')
        .split_once(' ')
        .and_then(|(started, ready)| {
            Some(ready.parse::<f64>().ok()? - started.parse::<f64>().ok()?)
        })
        .unwrap_or_else(|| panic!("not `STARTED READY`: {}\n{log}", answer.body));
    (log, Duration::from_secs_f64(own))
}

/// The `Init Duration` of the log's REPORT line.
fn init_duration(log: &str) -> Duration {
    millis_after(log, "\tInit Duration: ").unwrap_or_else(|| panic!("no Init Duration in\n{log}"))
}

/// The milliseconds written after `label` (`12.34 ms`), if the log has them.
fn millis_after(log: &str, label: &str) -> Option<Duration> {
    let at = log.find(label)? + label.len();
    let ms: f64 = log[at..].split(" ms").next()?.parse().ok()?;
    Some(Duration::from_secs_f64(ms / 1000.0))
}

fn skip_without_namespaces() -> bool {
    if namespaces_available() {
        return false;
    }
    eprintln!("SKIPPED: no user and mount namespaces here, so the views cannot be tested");
    true
}

/// Init Duration is at least the sleep and at most the sleep plus the bootstrap's own start,
/// and it is the bootstrap's own measure plus what no clock inside it can see.
fn assert_counts_the_bootstrap_alone((log, own): &(String, Duration)) {
    let init = init_duration(log);
    eprintln!("Init Duration {init:?}, the bootstrap's own {own:?}");
    assert!(init >= SLEEP, "{init:?} < {SLEEP:?}\n{log}");
    assert!(
        init < SLEEP + SLACK,
        "{init:?} >= {:?}\n{log}",
        SLEEP + SLACK
    );
    assert!(
        init.saturating_sub(*own) < RESIDUAL,
        "Init Duration {init:?} exceeds the bootstrap's own {own:?} by {RESIDUAL:?} or more\n{log}"
    );
}

#[test]
fn init_duration_runs_from_the_bootstraps_start_in_the_al2023_view() {
    if skip_without_namespaces() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let log = cold_log(function(dir.path(), Some(View::al2023())), true);
    assert_counts_the_bootstrap_alone(&log);
}

#[test]
fn init_duration_runs_from_the_bootstraps_start_in_the_host_view() {
    if skip_without_namespaces() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let log = cold_log(function(dir.path(), Some(View::Host)), true);
    assert_counts_the_bootstrap_alone(&log);
}

#[test]
fn init_duration_runs_from_the_bootstraps_start_run_directly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = cold_log(function(dir.path(), None), false);
    assert_counts_the_bootstrap_alone(&log);
}

#[test]
fn the_emulators_set_up_is_logged_apart_only_when_verbose() {
    let dir = tempfile::tempdir().expect("tempdir");
    let view = (!skip_without_namespaces()).then(View::al2023);
    let (quiet, _) = cold_log(function(dir.path(), view), false);
    assert!(!quiet.contains("lamina-emulator:"), "{quiet}");
    let (verbose, _) = cold_log(function(dir.path(), view), true);
    let setup = millis_after(&verbose, "lamina-emulator: instance 1 set up in ")
        .unwrap_or_else(|| panic!("no set-up line in\n{verbose}"));
    eprintln!(
        "set-up {setup:?}, Init Duration {:?}",
        init_duration(&verbose)
    );
    if view.is_some() {
        assert!(setup >= SLOW_SETUP, "{verbose}");
    }
    assert!(
        verbose.contains("before its bootstrap ran")
            && verbose.contains("not part of Init Duration"),
        "{verbose}"
    );
    // The set-up line comes before the first invocation's START, as the exec before `/next`.
    let setup_at = verbose.find("set up in").unwrap_or(usize::MAX);
    let start_at = verbose.find("START RequestId").unwrap_or(0);
    assert!(setup_at < start_at, "{verbose}");
}
