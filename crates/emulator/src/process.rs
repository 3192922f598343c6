//! Facts about function processes: peak memory from `/proc`, killing.

/// The pids of the live processes in process group `pgid`: the function and everything it
/// started. Scans all of `/proc` (about a millisecond per hundred processes).
pub fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| process_group(&pid.to_string()) == Some(pgid))
        .collect()
}

/// Sum of the peak resident set sizes (`VmHWM`, in KiB) of those of `pids` still in process
/// group `pgid` (a pid reused by another process does not count).
pub fn peak_rss_kib(pids: &[u32], pgid: u32) -> u64 {
    pids.iter()
        .map(|pid| pid.to_string())
        .filter(|pid| process_group(pid) == Some(pgid))
        .map(|pid| process_peak_rss_kib(&pid).unwrap_or(0))
        .sum()
}

/// Sum of the peak resident set sizes (`VmHWM`, in KiB) of the live processes in group `pgid`.
#[cfg(test)]
fn group_peak_rss_kib(pgid: u32) -> u64 {
    peak_rss_kib(&group_members(pgid), pgid)
}

fn process_group(pid: &str) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself hold spaces or parentheses.
    let after_name = &stat[stat.rfind(')')? + 1..];
    // state, ppid, pgrp
    after_name.split_whitespace().nth(2)?.parse().ok()
}

fn process_peak_rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// KiB to Lambda's "MB", rounded up.
pub fn kib_to_mb(kib: u64) -> u64 {
    kib.div_ceil(1024)
}

/// Sends SIGKILL to every process in group `pgid`.
pub fn kill_group(pgid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    if pgid <= 1 {
        return;
    }
    // SAFETY: kill(2) takes plain integers and has no memory effects; a negative pid
    // addresses the process group that the function's process leads (it was spawned
    // with `process_group(0)`), never our own group.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_group_has_memory() {
        // SAFETY: getpgrp has no preconditions.
        let pgid = unsafe { libc::getpgrp() };
        let pgid = u32::try_from(pgid).unwrap_or(0);
        assert!(group_peak_rss_kib(pgid) > 0);
        assert_eq!(kib_to_mb(1), 1);
        assert_eq!(kib_to_mb(2048), 2);
    }
}
