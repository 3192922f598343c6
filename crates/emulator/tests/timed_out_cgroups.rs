//! A timed-out instance's cgroup goes with it: after many timeouts no instance cgroup of this
//! emulator is left (one in eight timed-out invokes left an empty one, removed only by the
//! next emulator to start). Its own test binary: the cgroups counted are this process's.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{agent, post, script};
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};

const ROOT: &str = "/sys/fs/cgroup";

/// This process's emulator cgroup folders (one per hierarchy), which exist while an
/// emulator of this process has instances.
fn parents() -> Vec<PathBuf> {
    let root = Path::new(ROOT);
    let name = format!("lamina-emulator-{}", std::process::id());
    let parents: Vec<PathBuf> = if root.join("cgroup.controllers").exists() {
        vec![root.join(&name)]
    } else {
        ["memory", "freezer", "pids"]
            .iter()
            .map(|c| root.join(c).join(&name))
            .filter(|p| p.parent().is_some_and(|h| h.join("cgroup.procs").exists()))
            .collect()
    };
    parents
}

/// The instance cgroups under this emulator's folders, as `hierarchy/name`.
fn instance_cgroups(parents: &[PathBuf]) -> Vec<String> {
    parents
        .iter()
        .flat_map(|parent| {
            std::fs::read_dir(parent)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| {
                    let hierarchy = parent
                        .parent()
                        .and_then(Path::file_name)
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    format!("{hierarchy}/{}", e.file_name().to_string_lossy())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Starts `LAMINA_TEST_THREADS` threads and waits with them past any timeout: an instance
/// with many threads to end; a no-op in a normal run.
#[test]
fn worker() {
    let Some(threads) = std::env::var("LAMINA_TEST_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    else {
        return;
    };
    for _ in 0..threads {
        let spawned = std::thread::Builder::new()
            .stack_size(64 * 1024)
            .spawn(|| std::thread::sleep(Duration::from_secs(600)));
        if spawned.is_err() {
            break;
        }
    }
    std::thread::sleep(Duration::from_secs(600));
}

/// One emulator serving `invokes` timed-out invocations at once, shut down as soon as the
/// last answer is in (as `cargo lamina invoke` does); returns the instance cgroups left.
fn timed_out_round(dir: &Path, invokes: usize) -> Vec<String> {
    // Each invocation leaves children and grandchildren running (some in a session of their
    // own) and outlives its timeout: everything is killed at once, and exits at once.
    let exe = std::env::current_exe().expect("test binary");
    let cgroup_file = dir.join("cgroup.txt");
    let _ = std::fs::remove_file(&cgroup_file);
    let body = format!(
        r#"cat /proc/self/cgroup > '{}'
while true; do
  next
  for i in 1 2 3 4; do (sleep 100 & sleep 100 & wait) & done
  setsid sh -c 'sleep 100 & sleep 100' &
  LAMINA_TEST_THREADS=900 '{}' --exact worker -q >/dev/null 2>&1
  respond '"late"'
done"#,
        cgroup_file.display(),
        exe.display()
    );
    let mut function = FunctionConfig::new("late", script(dir, "bootstrap", &body));
    function.timeout = Duration::from_secs(1);
    let emulator = Emulator::start(EmulatorConfig::new(vec![function])).expect("start");
    let url = emulator.invoke_url("late");
    let callers: Vec<_> = (0..invokes)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || post(&agent(), &url, &[], b"{}"))
        })
        .collect();
    for caller in callers {
        let answer = caller.join().expect("caller");
        assert!(answer.body.contains("Task timed out"), "{}", answer.body);
    }
    emulator.shutdown();
    let cgroups = std::fs::read_to_string(&cgroup_file).expect("the function's cgroups");
    let ours = format!("lamina-emulator-{}/late-", std::process::id());
    if !cgroups.contains(&ours) {
        eprintln!("SKIPPED: instances get no cgroup here (not root, or no controllers)");
        return Vec::new();
    }
    instance_cgroups(&parents())
}

/// Every instance timed out and was killed; once the emulator has shut down none may have a
/// cgroup left (an emulator of the same process starting again would not remove it).
#[test]
fn no_cgroup_is_left_after_many_timed_out_invokes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (rounds, invokes) = (6, 4);
    let left: Vec<String> = (0..rounds)
        .flat_map(|_| timed_out_round(dir.path(), invokes))
        .collect();
    assert!(
        left.is_empty(),
        "{} cgroup folder(s) left after {} timed-out invokes: {left:?}",
        left.len(),
        rounds * invokes
    );
}
