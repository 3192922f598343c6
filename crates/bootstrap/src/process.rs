//! Process plumbing on Linux: process groups, pidfds, pipes on fixed descriptors, `poll`.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// Kills every process in the group led by `pgid` (children are spawned as group leaders, so a
/// handler's own children go too). A group that is already gone is not an error.
pub(crate) fn kill_group(pgid: u32) {
    if let Ok(pgid) = libc::pid_t::try_from(pgid) {
        // SAFETY: killpg only sends a signal; a stale or foreign id makes it fail with ESRCH/EPERM.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
}

/// How a process ended, in Lambda's words (`exit status 3`, `signal: killed`): the one wording
/// of `lamina_context::facts`, so the bootstrap and the emulator never disagree.
pub(crate) fn describe_status(status: ExitStatus) -> String {
    lamina_context::facts::exit_wording(status.code(), status.signal())
}

/// Makes reads and writes on `fd` return `WouldBlock` instead of waiting.
pub(crate) fn set_nonblocking(fd: &impl AsRawFd) -> io::Result<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: F_GETFL/F_SETFL on a descriptor we own; no memory is touched.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A pipe whose two ends are close-on-exec and numbered 10 or higher, so the child side can be
/// `dup2`ed onto fds 3 and 4 without clobbering another pipe end.
pub(crate) fn high_pipe() -> io::Result<(File, File)> {
    let (reader, writer) = io::pipe()?;
    let reader = dup_high(OwnedFd::from(reader))?;
    let writer = dup_high(OwnedFd::from(writer))?;
    Ok((File::from(reader), File::from(writer)))
}

fn dup_high(fd: OwnedFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor that nothing else owns.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` is a fresh, valid descriptor returned above.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Runs in the child between fork and exec: puts `child_fds[i]` on descriptor `3 + i`.
///
/// # Safety
/// Only async-signal-safe calls (`dup2`); the descriptors must be valid and numbered >= 10.
pub(crate) unsafe fn install_fds(child_fds: &[RawFd]) -> io::Result<()> {
    for (offset, &fd) in child_fds.iter().enumerate() {
        let target = 3 + offset as RawFd;
        // SAFETY: dup2 is async-signal-safe; the new descriptor is not close-on-exec.
        if unsafe { libc::dup2(fd, target) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Runs in the child between fork and exec: asks the kernel to SIGKILL it when the bootstrap
/// dies, so a handler never outlives the runtime that supervises it (locally, an emulator
/// kills only the bootstrap's own process group). Exits at once if the bootstrap is already
/// gone. The kernel ties this to the spawning *thread*: the bootstrap spawns handlers from
/// the invocation loop's thread, which lives as long as the process.
///
/// # Safety
/// Only async-signal-safe calls (`prctl`, `getppid`, `_exit`).
pub(crate) unsafe fn die_with_parent(parent: libc::pid_t) -> io::Result<()> {
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number and touches no memory.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: getppid and _exit are async-signal-safe.
    unsafe {
        if libc::getppid() != parent {
            libc::_exit(1);
        }
    }
    Ok(())
}

/// The bootstrap's own pid, for [`die_with_parent`].
pub(crate) fn own_pid() -> libc::pid_t {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() }
}

/// Watches a child for its exit without reaping it, through a pidfd when the kernel has them
/// (Linux 5.3+, so always on Lambda) and by polling `try_wait` in short slices otherwise.
#[derive(Debug)]
pub(crate) struct ExitWatch {
    pidfd: Option<OwnedFd>,
    status: Option<ExitStatus>,
    /// The child was still running when [`ExitWatch::kill`] signalled it: its status tells
    /// of the bootstrap's SIGKILL, not of anything the child did.
    killed: bool,
}

/// How often a child is polled for its exit when there is no pidfd.
const EXIT_POLL_SLICE: Duration = Duration::from_millis(10);

impl ExitWatch {
    pub(crate) fn new(child: &Child) -> Self {
        let pidfd = libc::pid_t::try_from(child.id()).ok().and_then(|pid| {
            // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
            let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
            // SAFETY: a non-negative return is a fresh descriptor we now own.
            (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
        });
        Self {
            pidfd,
            status: None,
            killed: false,
        }
    }

    /// The pollfd to add to a `poll` set, if there is a pidfd and the child has not exited.
    pub(crate) fn pollfd(&self) -> Option<libc::pollfd> {
        match (&self.pidfd, self.status) {
            (Some(fd), None) => Some(libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }),
            _ => None,
        }
    }

    /// Longest a `poll` may sleep so an exit is noticed without a pidfd.
    pub(crate) fn poll_slice(&self) -> Option<Duration> {
        (self.pidfd.is_none() && self.status.is_none()).then_some(EXIT_POLL_SLICE)
    }

    /// Checks (and remembers) whether the child has exited; reaps it if so.
    pub(crate) fn check(&mut self, child: &mut Child) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = child.try_wait().ok().flatten();
        }
        self.status
    }

    pub(crate) fn status(&self) -> Option<ExitStatus> {
        self.status
    }

    /// Whether the status is the bootstrap's own SIGKILL (see [`ExitWatch::kill`]).
    pub(crate) fn killed(&self) -> bool {
        self.killed
    }

    /// Kills the child's process group and reaps the child.
    pub(crate) fn kill(&mut self, child: &mut Child) -> Option<ExitStatus> {
        // Checked first: a child that exited on its own must not be reported as killed.
        let exited = self.check(child).is_some();
        kill_group(child.id());
        if !exited {
            self.killed = true;
            self.status = child.wait().ok();
        }
        self.status
    }

    /// Waits up to `grace` for the child to exit on its own (after it closed its pipes), then
    /// kills its group. Returns the status, which says which of the two happened.
    pub(crate) fn settle(&mut self, child: &mut Child, grace: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + grace;
        while self.check(child).is_none() {
            let now = Instant::now();
            if now >= until {
                break;
            }
            let mut fds: Vec<libc::pollfd> = self.pollfd().into_iter().collect();
            let slice = (until - now).min(EXIT_POLL_SLICE);
            let _ = poll(&mut fds, Some(now + slice));
        }
        self.kill(child)
    }
}

/// `poll(2)` until an event or `deadline` (`None`: no limit). Returns `false` on timeout.
/// `EINTR` counts as a wake-up with no events.
pub(crate) fn poll(fds: &mut [libc::pollfd], deadline: Option<Instant>) -> io::Result<bool> {
    let timeout_ms: libc::c_int = match deadline {
        None => -1,
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            // Round up so we never wake just before the deadline and spin.
            let ms = left.as_micros().div_ceil(1000);
            libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
        }
    };
    // SAFETY: `fds` is a valid, exclusively borrowed slice of pollfd for the whole call.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if ready < 0 {
        let error = io::Error::last_os_error();
        if error.kind() == io::ErrorKind::Interrupted {
            return Ok(true);
        }
        return Err(error);
    }
    Ok(ready > 0 || deadline.is_none_or(|d| Instant::now() < d))
}

/// Earliest of two optional instants (`None` = never).
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}
