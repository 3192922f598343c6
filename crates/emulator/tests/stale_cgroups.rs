//! An emulator killed with SIGKILL cannot stop its functions: their cgroup stays, frozen
//! between invocations, and its processes never run nor end (holding their ports and memory).
//! The next emulator to start ends them. Its own test binary: the cgroups are set up once per
//! process, at the first emulator's start.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};

const ROOT: &str = "/sys/fs/cgroup";

/// The folders of a stale instance cgroup (one per hierarchy), or `None` without cgroups.
fn stale_instance(dead_pid: u32) -> Option<(Vec<PathBuf>, bool)> {
    let root = Path::new(ROOT);
    let name = format!("lamina-emulator-{dead_pid}/stale-0");
    if root.join("cgroup.controllers").exists() {
        let dir = root.join(&name);
        std::fs::create_dir_all(&dir).ok()?;
        return Some((vec![dir], true));
    }
    let dirs: Vec<PathBuf> = ["freezer", "memory", "pids"]
        .iter()
        .map(|c| root.join(c).join(&name))
        .collect();
    for dir in &dirs {
        std::fs::create_dir_all(dir).ok()?;
    }
    Some((dirs, false))
}

#[test]
fn a_killed_emulators_frozen_processes_are_ended_by_the_next_one() {
    // A pid that no process has any more: an emulator that is gone.
    let mut gone = Command::new("true")
        .spawn()
        .unwrap_or_else(|e| panic!("true: {e}"));
    let dead_pid = gone.id();
    let _ = gone.wait();
    let Some((dirs, v2)) = stale_instance(dead_pid) else {
        eprintln!("SKIPPED: cannot make cgroups under {ROOT} here (not root, or no controllers)");
        return;
    };
    let mut sleeper = Command::new("sleep").arg("600").spawn().expect("sleep");
    for dir in &dirs {
        std::fs::write(dir.join("cgroup.procs"), sleeper.id().to_string()).expect("join cgroup");
    }
    let freeze = if v2 {
        (dirs[0].join("cgroup.freeze"), "1")
    } else {
        (dirs[0].join("freezer.state"), "FROZEN")
    };
    std::fs::write(&freeze.0, freeze.1).expect("freeze");

    let dir = tempfile::tempdir().expect("tempdir");
    let script = dir.path().join("bootstrap");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").expect("script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let emulator = Emulator::start(EmulatorConfig::new(vec![FunctionConfig::new("f", &script)]))
        .expect("start");

    let started = Instant::now();
    let status = loop {
        if let Some(status) = sleeper.try_wait().expect("wait") {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(10) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    emulator.shutdown();
    let Some(status) = status else {
        let _ = std::fs::write(&freeze.0, if v2 { "0" } else { "THAWED" });
        let _ = sleeper.kill();
        panic!("the stale cgroup's frozen process is still there");
    };
    assert!(!status.success(), "it was killed: {status:?}");
    for dir in &dirs {
        assert!(!dir.exists(), "{} was removed", dir.display());
        assert!(
            !dir.parent().expect("parent").exists(),
            "the dead emulator's folder was removed"
        );
    }
}
