//! Containment of function instances in cgroups: one cgroup per instance, v2 where the machine
//! has the unified hierarchy, v1 (memory, freezer, and pids when mounted) where it does not.
//!
//! An instance's cgroup bounds its memory (the function's memory setting, no swap) and its
//! processes and threads (Lambda's 1,024, as `pids.max`, where the pids controller is
//! mounted: v1 without it still works, said once), measures its peak over every process
//! however it groups itself, freezes it between invocations and kills everything in it at
//! once, so a child that called `setsid()` cannot outlive it. It is removed once its last
//! process is gone, however long exiting takes, and by its drop if no one removed it.

use std::fs::File;
use std::io::Write as _;
use std::os::fd::{AsRawFd as _, RawFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Where the unified (v2) hierarchy or the v1 controllers are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// How long a v1 freeze may take before the kill goes ahead anyway.
const FREEZE_WAIT: Duration = Duration::from_millis(500);
/// How long [`InstanceCgroup::remove`] keeps killing and waiting for a cgroup's processes to
/// be gone: exiting takes a moment per process, and a sandbox may hold 1,024 of them on a
/// loaded machine (2 s left one in eight timed-out cgroups behind). Past it, the folder is
/// left, said on stderr, for the next emulator to end.
const EMPTY_WAIT: Duration = Duration::from_secs(30);
/// The processes and threads one sandbox may hold: Lambda's limit, as `pids.max`.
const PIDS_MAX: u32 = lamina_context::facts::MAX_PROCESSES;

/// Says once per emulator process that instances are not limited to Lambda's 1,024
/// processes and threads, because the pids controller is missing.
fn say_no_pids_controller(where_: &str) {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        to_stderr!(
            "lamina-emulator: no pids controller ({where_}): an instance is not limited to \
             Lambda's {PIDS_MAX} processes and threads"
        );
    });
}

/// Why no cgroup could be made or used.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// Neither a usable v2 hierarchy nor the v1 memory and freezer controllers.
    #[error(
        "no cgroup v2 hierarchy with the memory controller and no cgroup v1 memory and freezer controllers under {CGROUP_ROOT}"
    )]
    NoController,
    /// A cgroup file or folder could not be written (not root, read-only file system, ...).
    #[error("{path}: {source}")]
    Io {
        /// The file or folder at fault.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> CgroupError + '_ {
    move |source| CgroupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Which cgroup interface the machine offers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Version {
    /// The unified hierarchy: one folder per cgroup.
    V2,
    /// Separate memory, freezer and pids hierarchies: one folder in each per cgroup.
    V1,
}

/// The emulator's own cgroups: a parent folder per emulator process, holding one cgroup per
/// function instance.
#[derive(Debug)]
pub struct Cgroups {
    version: Version,
    /// The parent folders (one for v2; memory, freezer and, when mounted, pids for v1).
    parents: Vec<PathBuf>,
    /// Whether the pids controller is there, to hold each instance to Lambda's 1,024.
    pids: bool,
}

/// The cgroups of this emulator process, or `None` (said once on stderr) when none can be made.
pub fn system() -> Option<&'static Cgroups> {
    static SYSTEM: OnceLock<Option<Cgroups>> = OnceLock::new();
    SYSTEM
        .get_or_init(|| match Cgroups::create(Path::new(CGROUP_ROOT)) {
            Ok(cgroups) => Some(cgroups),
            Err(err) => {
                to_stderr!(
                    "lamina-emulator: no cgroups ({err}): memory is not limited, Max Memory Used \
                     comes from /proc, and instances are not frozen between invocations"
                );
                None
            }
        })
        .as_ref()
}

/// Removes this emulator process's cgroups folder (instances already removed); for shutdown.
pub fn remove_system() {
    if let Some(cgroups) = system() {
        for parent in &cgroups.parents {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

impl Cgroups {
    /// Makes this process's parent cgroup under `root`, v2 if `root` is a unified hierarchy.
    fn create(root: &Path) -> Result<Self, CgroupError> {
        let name = format!("lamina-emulator-{}", std::process::id());
        let reaped = reap_stale(root);
        if reaped > 0 {
            to_stderr!(
                "lamina-emulator: ended the processes of {reaped} cgroup(s) left by emulators that \
                 were killed before they could stop their functions (frozen, they would have \
                 held their memory and ports for ever)"
            );
        }
        let controllers = root.join("cgroup.controllers");
        if let Ok(available) = std::fs::read_to_string(&controllers) {
            if !has_controller(&available, "memory") {
                return Err(CgroupError::NoController);
            }
            let pids = has_controller(&available, "pids");
            if !pids {
                say_no_pids_controller(&format!("not in {}", controllers.display()));
            }
            // Instances need memory (and pids) delegated from the root down to them.
            write(&root.join("cgroup.subtree_control"), subtree_control(pids))?;
            let cgroups = Cgroups {
                version: Version::V2,
                parents: vec![root.join(&name)],
                pids,
            };
            cgroups.make_parents()?;
            return Ok(cgroups);
        }
        let mounted = |c: &str| root.join(c).join("cgroup.procs").exists();
        if !["memory", "freezer"].iter().all(|c| mounted(c)) {
            return Err(CgroupError::NoController);
        }
        let pids = mounted("pids");
        if !pids {
            say_no_pids_controller(&format!(
                "no v1 hierarchy at {}",
                root.join("pids").display()
            ));
        }
        let controllers: &[&str] = if pids {
            &["memory", "freezer", "pids"]
        } else {
            &["memory", "freezer"]
        };
        let cgroups = Cgroups {
            version: Version::V1,
            parents: controllers
                .iter()
                .map(|c| root.join(c).join(&name))
                .collect(),
            pids,
        };
        cgroups.make_parents()?;
        Ok(cgroups)
    }

    /// Makes the parent folders, again if an emulator's shutdown removed them while another
    /// emulator in the same process lives on.
    fn make_parents(&self) -> Result<(), CgroupError> {
        for parent in &self.parents {
            if !parent.exists() {
                make_dir(parent)?;
                if self.version == Version::V2 {
                    write(
                        &parent.join("cgroup.subtree_control"),
                        subtree_control(self.pids),
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Makes the cgroup of one instance of function `function`, limited to `memory_mb` MB of
    /// memory and no swap, and (with the pids controller) to Lambda's 1,024 processes and
    /// threads: a function starting more gets `EAGAIN` from `fork`/`clone`, as on Lambda.
    pub fn instance(&self, function: &str, memory_mb: u64) -> Result<InstanceCgroup, CgroupError> {
        // Several emulators (tests) in one process may run functions of the same name.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!("{function}-{}", NEXT.fetch_add(1, Ordering::Relaxed));
        self.make_parents()?;
        let dirs: Vec<PathBuf> = self.parents.iter().map(|p| p.join(&name)).collect();
        for dir in &dirs {
            make_dir(dir)?;
        }
        let cgroup = InstanceCgroup {
            version: self.version.clone(),
            dirs,
            pids: self.pids,
            removed: std::sync::Mutex::new(false),
        };
        let bytes = (memory_mb * 1024 * 1024).to_string();
        let set = match cgroup.version {
            Version::V2 => write(&cgroup.memory().join("memory.max"), &bytes)
                .and_then(|()| {
                    // Absent without swap accounting: then there is no swap either.
                    optional_write(&cgroup.memory().join("memory.swap.max"), "0")
                })
                .and_then(|()| {
                    // The whole instance ends on OOM, as Lambda's sandbox does, not only the
                    // largest process (v1 has no such switch).
                    optional_write(&cgroup.memory().join("memory.oom.group"), "1")
                }),
            Version::V1 => {
                write(&cgroup.memory().join("memory.limit_in_bytes"), &bytes).and_then(|()| {
                    // memsw (memory + swap) exists only with swap accounting; equal to the
                    // memory limit, it leaves no swap.
                    optional_write(&cgroup.memory().join("memory.memsw.limit_in_bytes"), &bytes)
                })
            }
        };
        let set = set.and_then(|()| match cgroup.pids_dir() {
            Some(dir) => write(&dir.join("pids.max"), &PIDS_MAX.to_string()),
            None => Ok(()),
        });
        if let Err(err) = set {
            cgroup.remove();
            return Err(err);
        }
        Ok(cgroup)
    }
}

/// One instance's cgroup (one folder for v2; memory, freezer and pids folders for v1).
/// Dropped without [`remove`](InstanceCgroup::remove) (an exit watcher cancelled when the
/// emulator shuts down), it removes itself.
#[derive(Debug)]
pub struct InstanceCgroup {
    version: Version,
    dirs: Vec<PathBuf>,
    /// Whether it has a pids controller (v2: in its one folder; v1: the third folder).
    pids: bool,
    /// Set once its folders are gone (or given up on), so removing twice does nothing; held
    /// while removing, so a second remover (shutdown) waits for the first to finish.
    removed: std::sync::Mutex<bool>,
}

impl Drop for InstanceCgroup {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Open `cgroup.procs` files to which a child writes `0` before exec, joining the cgroup.
pub struct Joiner {
    files: Vec<File>,
}

impl Joiner {
    /// The file descriptors to write to; they stay valid while `self` lives.
    pub fn fds(&self) -> Vec<RawFd> {
        self.files.iter().map(|f| f.as_raw_fd()).collect()
    }

    /// Moves the calling process into the cgroup. Only async-signal-safe calls: it runs in the
    /// forked child before exec.
    pub fn join(fds: &[RawFd]) -> std::io::Result<()> {
        for &fd in fds {
            // Writing 0 to cgroup.procs moves the writing process (v1 and v2 alike).
            // SAFETY: fd is an open file descriptor owned by the parent's Joiner, which
            // outlives the fork; the buffer is a static one-byte slice.
            let written = unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) };
            if written != 1 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

impl InstanceCgroup {
    fn memory(&self) -> &Path {
        &self.dirs[0]
    }

    fn freezer(&self) -> &Path {
        // v2 freezes in the one folder; v1's freezer folder is the second.
        self.dirs.get(1).unwrap_or(&self.dirs[0])
    }

    /// The folder holding `pids.max`, if there is a pids controller.
    fn pids_dir(&self) -> Option<&Path> {
        match (self.pids, &self.version) {
            (false, _) => None,
            (true, Version::V2) => Some(&self.dirs[0]),
            (true, Version::V1) => self.dirs.get(2).map(PathBuf::as_path),
        }
    }

    /// Whether no process is left in the cgroup: v2's `cgroup.events` says `populated 0`;
    /// v1 has no such file, and every hierarchy's `cgroup.procs` must be empty. A zombie
    /// is not counted (it left the cgroup as it exited).
    fn is_empty(&self) -> bool {
        match self.version {
            Version::V2 => std::fs::read_to_string(self.dirs[0].join("cgroup.events"))
                .map(|text| counter(&text, "populated") == Some(0))
                .unwrap_or(true),
            Version::V1 => self.dirs.iter().all(|dir| {
                std::fs::read_to_string(dir.join("cgroup.procs"))
                    .map(|text| parse_pids(&text).is_empty())
                    .unwrap_or(true)
            }),
        }
    }

    /// Opens the `cgroup.procs` files a child process writes itself into before exec.
    pub fn joiner(&self) -> Result<Joiner, CgroupError> {
        let files = self
            .dirs
            .iter()
            .map(|dir| {
                let path = dir.join("cgroup.procs");
                File::options()
                    .write(true)
                    .open(&path)
                    .map_err(io_error(&path))
            })
            .collect::<Result<_, _>>()?;
        Ok(Joiner { files })
    }

    /// Peak memory of every process that was ever in the cgroup, in bytes (`None`: unknown).
    pub fn peak_bytes(&self) -> Option<u64> {
        let read = |file: &str| read_number(&self.memory().join(file));
        match self.version {
            // memory.peak is Linux 5.19+; before it, the current usage is the best there is.
            Version::V2 => read("memory.peak").or_else(|| read("memory.current")),
            Version::V1 => read("memory.max_usage_in_bytes"),
        }
    }

    /// Whether the kernel's OOM killer has killed a process in the cgroup.
    pub fn oom_killed(&self) -> bool {
        let file = match self.version {
            Version::V2 => "memory.events",
            Version::V1 => "memory.oom_control",
        };
        std::fs::read_to_string(self.memory().join(file))
            .ok()
            .and_then(|text| counter(&text, "oom_kill"))
            .is_some_and(|kills| kills > 0)
    }

    /// Stops every process of the cgroup from running until [`thaw`](Self::thaw).
    pub fn freeze(&self) -> Result<(), CgroupError> {
        match self.version {
            Version::V2 => write(&self.freezer().join("cgroup.freeze"), "1"),
            Version::V1 => write(&self.freezer().join("freezer.state"), "FROZEN"),
        }
    }

    /// Lets the cgroup's processes run again.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        match self.version {
            Version::V2 => write(&self.freezer().join("cgroup.freeze"), "0"),
            Version::V1 => write(&self.freezer().join("freezer.state"), "THAWED"),
        }
    }

    /// Kills every process in the cgroup, including those that left the function's process
    /// group or session.
    pub fn kill(&self) {
        if self.version == Version::V2 && write(&self.memory().join("cgroup.kill"), "1").is_ok() {
            return;
        }
        // Frozen, nothing can fork between reading the list and the kills; SIGKILL reaches
        // frozen processes, which die as they thaw.
        let frozen = self.freeze().is_ok();
        if frozen && self.version == Version::V1 {
            let state = self.freezer().join("freezer.state");
            let started = Instant::now();
            while started.elapsed() < FREEZE_WAIT
                && std::fs::read_to_string(&state).is_ok_and(|s| s.trim() == "FREEZING")
            {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        for pid in self.pids() {
            if let Ok(pid) = libc::pid_t::try_from(pid)
                && pid > 1
            {
                // SAFETY: kill(2) takes plain integers and has no memory effects.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
        if frozen {
            let _ = self.thaw();
        }
    }

    /// The pids in the cgroup.
    pub fn pids(&self) -> Vec<u32> {
        std::fs::read_to_string(self.memory().join("cgroup.procs"))
            .map(|text| parse_pids(&text))
            .unwrap_or_default()
    }

    /// Kills what is left, waits until the kill is seen (no process left in any of its
    /// folders) and removes the folders. `rmdir` of a cgroup whose processes are still
    /// exiting fails with `EBUSY`, so it is retried, killing again (a process forked as the
    /// first kill landed) until the cgroup is empty or [`EMPTY_WAIT`] has passed. Does
    /// nothing the second time; a call while another is removing returns once that one is
    /// done (so a shutdown that removes what is left never exits before a removal under way).
    pub fn remove(&self) {
        let mut removed = self
            .removed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !*removed {
            self.remove_now();
            *removed = true;
        }
    }

    fn remove_now(&self) {
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            if self.is_empty() {
                // EBUSY: a process is still on its way out; anything else (gone, or not a
                // cgroup folder at all) will not change by waiting.
                let busy = self
                    .dirs
                    .iter()
                    .filter(|dir| {
                        std::fs::remove_dir(dir)
                            .is_err_and(|e| e.raw_os_error() == Some(libc::EBUSY))
                    })
                    .count();
                if busy == 0 {
                    return;
                }
            } else {
                self.kill();
            }
            if started.elapsed() > EMPTY_WAIT {
                to_stderr!(
                    "lamina-emulator: {} still has processes {} s after they were killed; \
                     it is left for the next emulator to end",
                    self.dirs[0].display(),
                    EMPTY_WAIT.as_secs()
                );
                return;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }
}

/// What a v2 parent delegates to its children.
fn subtree_control(pids: bool) -> &'static str {
    if pids { "+memory +pids" } else { "+memory" }
}

/// Kills the processes of the cgroups that emulators which no longer run left under `root`
/// (an emulator killed with SIGKILL cannot stop its functions; frozen, they would never run
/// again nor end), thaws them so the kill lands, and removes the folders. Returns how many
/// instance cgroups it ended.
fn reap_stale(root: &Path) -> usize {
    let hierarchies: Vec<PathBuf> = if root.join("cgroup.controllers").exists() {
        vec![root.to_path_buf()]
    } else {
        ["freezer", "memory", "pids"]
            .iter()
            .map(|c| root.join(c))
            .collect()
    };
    let mut ended = 0;
    for hierarchy in hierarchies {
        let Ok(entries) = std::fs::read_dir(&hierarchy) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = name.strip_prefix("lamina-emulator-") else {
                continue;
            };
            let alive = Path::new("/proc").join(pid).exists();
            if alive || pid.parse::<u32>().is_err() {
                continue;
            }
            let parent = entry.path();
            let instances: Vec<PathBuf> = std::fs::read_dir(&parent)
                .map(|dirs| {
                    dirs.flatten()
                        .map(|d| d.path())
                        .filter(|p| p.is_dir())
                        .collect()
                })
                .unwrap_or_default();
            for instance in &instances {
                for pid in std::fs::read_to_string(instance.join("cgroup.procs"))
                    .map(|text| parse_pids(&text))
                    .unwrap_or_default()
                {
                    if let Ok(pid) = libc::pid_t::try_from(pid)
                        && pid > 1
                    {
                        // SAFETY: kill(2) takes plain integers and has no memory effects.
                        unsafe {
                            libc::kill(pid, libc::SIGKILL);
                        }
                    }
                }
                // A frozen process dies of its SIGKILL as it thaws.
                let _ = std::fs::write(instance.join("freezer.state"), "THAWED");
                let _ = std::fs::write(instance.join("cgroup.freeze"), "0");
                if hierarchy.ends_with("freezer") || hierarchy == root {
                    ended += 1;
                }
            }
            for dir in instances.iter().chain(std::iter::once(&parent)) {
                let started = Instant::now();
                while std::fs::remove_dir(dir).is_err()
                    && dir.exists()
                    && started.elapsed() < Duration::from_secs(1)
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
    ended
}

fn has_controller(list: &str, name: &str) -> bool {
    list.split_whitespace().any(|c| c == name)
}

/// The value of `key` in a flat-keyed file (`memory.events`, `memory.oom_control`).
fn counter(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next()? == key).then(|| words.next()?.parse().ok())?
    })
}

fn parse_pids(text: &str) -> Vec<u32> {
    text.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

fn read_number(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn make_dir(path: &Path) -> Result<(), CgroupError> {
    match std::fs::create_dir(path) {
        Err(err) if err.kind() != std::io::ErrorKind::AlreadyExists => Err(io_error(path)(err)),
        _ => Ok(()),
    }
}

/// Cgroup files are written in place: they are kernel interfaces, not files to rename.
fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    File::options()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(io_error(path))
}

fn optional_write(path: &Path, value: &str) -> Result<(), CgroupError> {
    if path.exists() {
        write(path, value)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_by_key() {
        let v2_events = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(counter(v2_events, "oom_kill"), Some(1));
        assert_eq!(counter(v2_events, "oom"), Some(1));
        let v1_control = "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n";
        assert_eq!(counter(v1_control, "oom_kill"), Some(0));
        assert_eq!(counter("under_oom 0\n", "oom_kill"), None);
    }

    #[test]
    fn pids_and_controllers_are_parsed() {
        assert_eq!(parse_pids("12\n345\n\n"), vec![12, 345]);
        assert!(has_controller("cpuset cpu io memory pids\n", "memory"));
        assert!(!has_controller("cpuset cpu io\n", "memory"));
    }

    #[test]
    fn a_fake_v2_root_gets_one_folder_with_limits() {
        let root = tempfile::tempdir().expect("test fixture");
        std::fs::write(root.path().join("cgroup.controllers"), "cpu memory pids\n")
            .expect("test fixture");
        std::fs::write(root.path().join("cgroup.subtree_control"), "").expect("test fixture");
        // A real cgroupfs makes a folder's files on mkdir; here the parent is made beforehand.
        let parent = root
            .path()
            .join(format!("lamina-emulator-{}", std::process::id()));
        std::fs::create_dir(&parent).expect("test fixture");
        let cgroups = Cgroups::create(root.path()).expect("test fixture");
        assert_eq!(
            std::fs::read_to_string(root.path().join("cgroup.subtree_control"))
                .expect("test fixture"),
            "+memory +pids"
        );
        assert_eq!(cgroups.version, Version::V2);
        assert_eq!(cgroups.parents, vec![parent.clone()]);
        let instance_dir = parent.join("f-0");
        std::fs::create_dir(&instance_dir).expect("test fixture");
        let files = [
            "memory.max",
            "memory.swap.max",
            "memory.oom.group",
            "cgroup.procs",
            "cgroup.freeze",
            "pids.max",
        ];
        for file in files {
            std::fs::write(instance_dir.join(file), "").expect("test fixture");
        }
        let instance = cgroups.instance("f", 128).expect("test fixture");
        let read = |f: &str| std::fs::read_to_string(instance_dir.join(f)).expect("test fixture");
        assert_eq!(read("memory.max"), "134217728");
        assert_eq!(read("memory.swap.max"), "0");
        assert_eq!(read("memory.oom.group"), "1");
        assert_eq!(read("pids.max"), "1024");
        instance.freeze().expect("test fixture");
        assert_eq!(read("cgroup.freeze"), "1");
        std::fs::write(instance_dir.join("memory.events"), "oom 1\noom_kill 1\n")
            .expect("test fixture");
        assert!(instance.oom_killed());
        std::fs::write(instance_dir.join("memory.peak"), "4096\n").expect("test fixture");
        assert_eq!(instance.peak_bytes(), Some(4096));
    }

    #[test]
    fn a_root_without_controllers_is_refused() {
        let root = tempfile::tempdir().expect("test fixture");
        assert!(matches!(
            Cgroups::create(root.path()),
            Err(CgroupError::NoController)
        ));
        std::fs::write(root.path().join("cgroup.controllers"), "cpu io\n").expect("test fixture");
        assert!(matches!(
            Cgroups::create(root.path()),
            Err(CgroupError::NoController)
        ));
    }
}
