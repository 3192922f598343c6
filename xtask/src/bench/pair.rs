//! One function against its peer, both under lamina's emulator: the rows every runtime
//! comparison shares.

use std::path::Path;

use super::measure::{self, Function};
use super::report::{Row, Stats};

/// Warm throughput, latency, Init Duration, peak memory and instructions per invocation of
/// `lamina` and `peer` (executables speaking the Runtime API), each fed `event`.
pub fn function_rows(
    runs: usize,
    invocations: usize,
    lamina: &Path,
    peer: &Path,
    event: &[u8],
) -> anyhow::Result<Vec<Row>> {
    let mut throughput = (Stats::default(), Stats::default());
    let mut latency = (Stats::default(), Stats::default());
    let mut init = (Stats::default(), Stats::default());
    let mut memory = (Stats::default(), Stats::default());
    let mut instructions = (Stats::default(), Stats::default());
    let per_run = (invocations / 4).max(50);
    for run in 1..=runs {
        let ours = measure::warm_run(&Function::executable(lamina), event, 1, invocations)?;
        let theirs = measure::warm_run(&Function::executable(peer), event, 1, invocations)?;
        eprintln!(
            "    run {run}: lamina {:.0} inv/s, peer {:.0} inv/s",
            ours.per_second, theirs.per_second
        );
        throughput.0.push(ours.per_second);
        throughput.1.push(theirs.per_second);
        latency.0.push(ours.median_latency_us);
        latency.1.push(theirs.median_latency_us);
        init.0.push(ours.init_ms);
        init.1.push(theirs.init_ms);
        memory.0.push(ours.peak_rss_kib);
        memory.1.push(theirs.peak_rss_kib);
    }
    // callgrind counts instructions, not time: one run each is repeatable.
    instructions.0.push(measure::instructions_per_invocation(
        lamina, event, per_run,
    )?);
    instructions
        .1
        .push(measure::instructions_per_invocation(peer, event, per_run)?);

    Ok(vec![
        Row::higher(
            "warm invocations per second (concurrency 1)",
            "inv/s",
            throughput,
        ),
        Row::lower("latency of one warm invoke, median", "µs", latency),
        Row::lower("process start to first `/next` (Init Duration)", "ms", init),
        Row::lower("peak memory of the function process (VmHWM)", "KiB", memory),
        Row::lower(
            "instructions per invocation (callgrind)",
            "instr",
            instructions,
        ),
    ])
}
