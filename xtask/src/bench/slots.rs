//! Lambda Managed Instances: `Runtime::concurrent` serving 8 invocations at once from one process,
//! against the same function in 8 processes of one slot each (Lambda's usual model), both
//! under lamina's emulator, 8 callers. The function (`tests/e2e`'s `e2e-concurrent`) waits
//! 2 ms per invocation, like a call to a database.

use anyhow::Context as _;
use xshell::cmd;

use super::measure::{self, Function};
use super::report::{Row, Section, Stats};
use crate::paths::{root_shell, target_dir};

const EVENT: &[u8] = br#"{"n":1}"#;
const SLOTS: usize = 8;

pub fn section(runs: usize, invocations: usize) -> anyhow::Result<Section> {
    eprintln!("==> Concurrency: one process with 8 slots vs 8 processes");
    let sh = root_shell()?;
    cmd!(
        sh,
        "cargo build --quiet --release --package lamina-e2e --bin e2e-concurrent"
    )
    .run()
    .context("building e2e-concurrent")?;
    let executable = target_dir().join("release/e2e-concurrent");
    let one_process = Function {
        max_concurrency: SLOTS,
        ..Function::executable(&executable)
    };
    let processes = Function::executable(&executable);
    let mut rate = (Stats::default(), Stats::default());
    let mut memory = (Stats::default(), Stats::default());
    for run in 1..=runs {
        let ours = measure::warm_run(&one_process, EVENT, SLOTS, invocations)?;
        let theirs = measure::warm_run(&processes, EVENT, SLOTS, invocations)?;
        eprintln!(
            "    run {run}: one process {:.0} inv/s, {SLOTS} processes {:.0} inv/s",
            ours.per_second, theirs.per_second
        );
        rate.0.push(ours.per_second);
        rate.1.push(theirs.per_second);
        memory.0.push(ours.peak_rss_kib);
        memory.1.push(theirs.peak_rss_kib);
    }
    Ok(Section {
        title: "Concurrency (`AWS_LAMBDA_MAX_CONCURRENCY`)".into(),
        lamina: format!("`Runtime::concurrent`, one process with {SLOTS} slots"),
        peer: format!("the same function in {SLOTS} processes of one slot each"),
        rows: vec![
            Row::higher(
                &format!("invocations per second, {SLOTS} callers"),
                "inv/s",
                rate,
            ),
            Row::lower(
                "peak memory of the largest function process (VmHWM)",
                "KiB",
                memory,
            ),
        ],
        notes: vec!["Memory is per process: the 8-process setup holds 8 of them.".into()],
    })
}
