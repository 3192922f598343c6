//! A function that logs 200 MB in one invocation costs the emulator bounded memory (the lines
//! go to the log's sinks; only a tail is kept for `X-Amz-Log-Result`), and that tail is the
//! log's last bytes. Its own test binary: the process's peak memory is this test's alone.

mod common;

use common::{agent, post, script};
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .expect("field")
}

#[test]
fn a_flood_of_log_lines_costs_bounded_memory_and_the_tail_is_the_last_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 200 MB of 1,000-byte lines, then a last line to find in the tail.
    let body = r#"while true; do next
yes "$(printf '%0999d' 0)" | head -c 209715200
echo "the very last line"
respond '{"done":true}'
done"#;
    let mut function = FunctionConfig::new("flood", script(dir.path(), "bootstrap", body));
    function.timeout = std::time::Duration::from_secs(120);
    let emulator = Emulator::start(EmulatorConfig::new(vec![function])).expect("start");
    let before = status_kib("VmRSS:");
    let answer = post(
        &agent(),
        &emulator.invoke_url("flood"),
        &[("X-Amz-Log-Type", "Tail")],
        b"{}",
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    let peak = status_kib("VmHWM:");
    // The function log kept for `Emulator::logs` is capped at 16 MB; without the bound the
    // invocation's own copy alone was the whole 200 MB.
    assert!(
        peak.saturating_sub(before) < 96 * 1024,
        "memory grew from {before} KiB to a peak of {peak} KiB while 200 MB were logged"
    );
    use base64::Engine as _;
    let tail = answer.header("X-Amz-Log-Result").expect("log result");
    let tail = base64::engine::general_purpose::STANDARD
        .decode(tail)
        .expect("base64");
    let tail = String::from_utf8_lossy(&tail);
    assert!(tail.contains("the very last line"), "{tail}");
    assert!(tail.contains("REPORT RequestId:"), "{tail}");
}
