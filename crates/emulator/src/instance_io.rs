//! What the emulator holds of one instance's processes: the pipe their output comes through
//! (read line by line into the log, with flush markers to know everything before a point has
//! been read), the invocation's own bounded log tail, and the instance's cgroup or process
//! group for memory, freezing and killing. Effects only: which of them to use when is
//! decided by the instance's phases ([`crate::instance`]) and the function (`function/`).

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, PipeReader, PipeWriter, Read as _, Write as _};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lamina_context::facts::MAX_LOG_LINE_BYTES as MAX_LOG_LINE;
use tokio::sync::oneshot;

use crate::{cgroup, process};

/// How long to wait for a function's pipe to be read up to a flush marker before giving up:
/// only a runaway writer filling the pipe faster than we read it would hit this.
const FLUSH_LIMIT: Duration = Duration::from_secs(2);

/// How often the list of a function's processes is refreshed for memory measurement.
const MEMBERS_REFRESH: Duration = Duration::from_secs(1);

/// Most of an invocation's own log kept in memory before its start is dropped, and what is
/// kept then: far more than the 4 KB tail Lambda returns, far less than a flood.
const CURRENT_LOG_CAP: usize = 256 * 1024;
const CURRENT_LOG_KEEP: usize = 16 * 1024;

/// What the emulator shares with an instance's output reader thread.
pub struct InstanceIo {
    /// Our own write end of the function's output pipe, used to write flush markers.
    writer: Mutex<Option<PipeWriter>>,
    inner: Mutex<IoState>,
    peak_rss_kib: AtomicU64,
    pgid: Option<u32>,
    /// When the process group's members were last listed, and who they were.
    group_members: Mutex<(Option<Instant>, Vec<u32>)>,
    /// The instance's cgroup, where the machine lets us make one: its memory limit, peak,
    /// freezer and kill.
    pub(crate) cgroup: Option<cgroup::InstanceCgroup>,
    /// Whether the instance is frozen (idle between invocations).
    frozen: AtomicBool,
}

#[derive(Default)]
struct IoState {
    /// The log of the invocation (or init) in progress, for `X-Amz-Log-Type: Tail`.
    current: Option<String>,
    /// Flush markers written into the pipe and not read back yet.
    markers: HashMap<u64, oneshot::Sender<()>>,
}

/// A flush marker is `\x01lamina-flush-{n}\x01\n`: written by us into the function's pipe,
/// it comes out after everything the function wrote before it.
const MARKER_PREFIX: &str = "\u{1}lamina-flush-";
const MARKER_SUFFIX: char = '\u{1}';
static NEXT_MARKER: AtomicU64 = AtomicU64::new(0);

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves consistent data (every update is a
    // single assignment or push), so a poisoned lock is still usable.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl InstanceIo {
    pub(crate) fn new(
        writer: Option<PipeWriter>,
        pgid: Option<u32>,
        cgroup: Option<cgroup::InstanceCgroup>,
    ) -> Self {
        InstanceIo {
            writer: Mutex::new(writer),
            inner: Mutex::new(IoState {
                current: Some(String::new()),
                markers: HashMap::new(),
            }),
            peak_rss_kib: AtomicU64::new(0),
            pgid,
            group_members: Mutex::new((None, Vec::new())),
            cgroup,
            frozen: AtomicBool::new(false),
        }
    }

    /// Kills everything the instance started: its cgroup (however its processes grouped
    /// themselves) and its process group.
    pub(crate) fn kill_all(&self) {
        self.sample_before_kill();
        if let Some(cgroup) = &self.cgroup {
            cgroup.kill();
        }
        if let Some(pgid) = self.pgid {
            process::kill_group(pgid);
        }
    }

    /// Records the peak memory while the processes still exist: a killed process takes its
    /// `VmHWM` with it, and an instance whose first invocation timed out reported 0 MB.
    fn sample_before_kill(&self) {
        if self.cgroup.is_some() {
            self.sample_cgroup_peak();
        } else if let Some(pgid) = self.pgid {
            let mut pids = lock(&self.group_members).1.clone();
            if !pids.contains(&pgid) {
                pids.push(pgid);
            }
            let sampled = process::peak_rss_kib(&pids, pgid);
            self.peak_rss_kib.fetch_max(sampled, Ordering::Relaxed);
        }
    }

    /// Freezes the instance while it waits in `/next` with nothing to do, as Lambda does.
    pub(crate) fn freeze(&self) {
        if let Some(cgroup) = &self.cgroup
            && !self.frozen.swap(true, Ordering::AcqRel)
            && let Err(err) = cgroup.freeze()
        {
            to_stderr!("lamina-emulator: freezing an instance: {err}");
        }
    }

    /// Lets a frozen instance run again; before `/next` hands it an invocation.
    pub(crate) fn thaw(&self) {
        if let Some(cgroup) = &self.cgroup
            && self.frozen.swap(false, Ordering::AcqRel)
            && let Err(err) = cgroup.thaw()
        {
            to_stderr!("lamina-emulator: thawing an instance: {err}");
        }
    }

    /// Records the cgroup's peak memory; call before the cgroup is removed.
    pub(crate) fn sample_cgroup_peak(&self) {
        if let Some(peak) = self.cgroup.as_ref().and_then(|c| c.peak_bytes()) {
            self.peak_rss_kib.fetch_max(peak / 1024, Ordering::Relaxed);
        }
    }

    pub(crate) fn append_current(&self, line: &str) {
        if let Some(current) = lock(&self.inner).current.as_mut() {
            current.push_str(line);
            current.push('\n');
            // Only the tail is returned (`X-Amz-Log-Result`): keep a little more than that, so
            // a function logging hundreds of MB costs no memory (the lines themselves went
            // to the log's sinks already).
            if current.len() > CURRENT_LOG_CAP {
                let mut cut = current.len() - CURRENT_LOG_KEEP;
                while !current.is_char_boundary(cut) {
                    cut += 1;
                }
                current.drain(..cut);
            }
        }
    }

    pub(crate) fn begin(&self, first_line: &str) {
        lock(&self.inner).current = Some(format!("{first_line}\n"));
    }

    /// Starts collecting the log afresh (a new attempt at init).
    pub(crate) fn restart_current(&self) {
        lock(&self.inner).current = Some(String::new());
    }

    pub(crate) fn take_current(&self) -> String {
        lock(&self.inner).current.take().unwrap_or_default()
    }

    pub(crate) fn close_writer(&self) {
        lock(&self.writer).take();
    }

    /// Waits until everything the function wrote so far has been read into the log.
    pub(crate) async fn flush(self: &Arc<Self>) {
        let number = NEXT_MARKER.fetch_add(1, Ordering::Relaxed);
        let (seen_tx, seen_rx) = oneshot::channel();
        lock(&self.inner).markers.insert(number, seen_tx);
        let io = Arc::clone(self);
        let written = tokio::task::spawn_blocking(move || {
            let mut writer = lock(&io.writer);
            let Some(writer) = writer.as_mut() else {
                return false;
            };
            writer
                .write_all(format!("{MARKER_PREFIX}{number}{MARKER_SUFFIX}\n").as_bytes())
                .is_ok()
        })
        .await
        .unwrap_or(false);
        if written {
            let _ = tokio::time::timeout(FLUSH_LIMIT, seen_rx).await;
        }
        lock(&self.inner).markers.remove(&number);
    }

    /// Samples the process group's memory and returns the instance's peak in MB.
    pub(crate) async fn max_memory_used_mb(self: &Arc<Self>) -> u64 {
        if self.cgroup.is_some() {
            // The cgroup counts every process, however it grouped itself: no /proc scan.
            self.sample_cgroup_peak();
        } else if let Some(pgid) = self.pgid {
            let io = Arc::clone(self);
            let sampled = tokio::task::spawn_blocking(move || {
                // Finding the group's members scans all of /proc; at hundreds of invocations
                // a second that would dominate, so the member list is refreshed at most once
                // per interval and only the known members are read in between.
                let mut members = lock(&io.group_members);
                let stale = members.0.is_none_or(|at| at.elapsed() >= MEMBERS_REFRESH);
                if stale {
                    *members = (Some(Instant::now()), process::group_members(pgid));
                }
                process::peak_rss_kib(&members.1, pgid)
            })
            .await
            .unwrap_or(0);
            self.peak_rss_kib.fetch_max(sampled, Ordering::Relaxed);
        }
        process::kib_to_mb(self.peak_rss_kib.load(Ordering::Relaxed))
    }
}

/// Reads the function's stdout and stderr (one pipe, so their order is kept) line by line
/// into the log (each line to `log_line`, the function's log), until every write end is closed.
pub(crate) fn read_output(reader: PipeReader, log_line: &dyn Fn(&str), io: &InstanceIo) {
    let mut reader = BufReader::new(reader);
    let mut raw = Vec::new();
    loop {
        raw.clear();
        match (&mut reader).take(MAX_LOG_LINE).read_until(b'\n', &mut raw) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if raw.last() == Some(&b'\n') {
            raw.pop();
        }
        if raw.last() == Some(&b'\r') {
            raw.pop();
        }
        let text = String::from_utf8_lossy(&raw);
        let mut rest: &str = &text;
        let mut had_marker = false;
        while let Some(at) = rest.find(MARKER_PREFIX) {
            had_marker = true;
            let before = &rest[..at];
            if !before.is_empty() {
                emit(log_line, io, before);
            }
            let after = &rest[at + MARKER_PREFIX.len()..];
            let end = after.find(MARKER_SUFFIX).unwrap_or(after.len());
            if let Ok(number) = after[..end].parse::<u64>()
                && let Some(seen) = lock(&io.inner).markers.remove(&number)
            {
                let _ = seen.send(());
            }
            rest = after.get(end + MARKER_SUFFIX.len_utf8()..).unwrap_or("");
        }
        if !had_marker || !rest.is_empty() {
            emit(log_line, io, rest);
        }
    }
}

fn emit(log_line: &dyn Fn(&str), io: &InstanceIo, line: &str) {
    io.append_current(line);
    log_line(line);
}
