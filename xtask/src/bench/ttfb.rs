//! Time to first byte of a streamed response (`InvokeWithResponseStream`) against the same
//! response buffered (`Invoke`), from the same function (`tests/e2e`'s `e2e-stream`, four
//! chunks 50 ms apart) under lamina's emulator.

use std::io::Read as _;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};
use xshell::cmd;

use super::report::{Row, Section, Stats};
use crate::paths::{root_shell, target_dir};

const EVENT: &str = r#"{"chunks":4,"gap_ms":50}"#;

/// Milliseconds to the first byte of the answer's body, and to its end.
fn first_and_last(agent: &ureq::Agent, url: &str) -> anyhow::Result<(f64, f64)> {
    let started = Instant::now();
    let mut response = agent.post(url).send(EVENT).context("invoking")?;
    let mut reader = response.body_mut().as_reader();
    let mut byte = [0u8; 1];
    reader
        .read_exact(&mut byte)
        .context("reading the first byte")?;
    let first = started.elapsed();
    std::io::copy(&mut reader, &mut std::io::sink())?;
    let last = started.elapsed();
    Ok((first.as_secs_f64() * 1e3, last.as_secs_f64() * 1e3))
}

pub fn section(runs: usize) -> anyhow::Result<Section> {
    eprintln!("==> Streaming: time to first byte, streamed vs buffered");
    let sh = root_shell()?;
    cmd!(
        sh,
        "cargo build --quiet --release --package lamina-e2e --bin e2e-stream"
    )
    .run()
    .context("building e2e-stream")?;
    let mut config = FunctionConfig::new("stream", target_dir().join("release/e2e-stream"));
    config.timeout = Duration::from_secs(30);
    let emulator = Emulator::start(EmulatorConfig::new(vec![config]))?;
    let streamed = format!(
        "{}/2021-11-15/functions/stream/response-streaming-invocations",
        emulator.endpoint_url()
    );
    let buffered = emulator.invoke_url("stream");
    let agent = ureq::Agent::new_with_defaults();
    first_and_last(&agent, &buffered)?;
    let (mut first, mut last) = (
        (Stats::default(), Stats::default()),
        (Stats::default(), Stats::default()),
    );
    for _ in 0..runs.max(1) * 10 {
        let ours = first_and_last(&agent, &streamed)?;
        let theirs = first_and_last(&agent, &buffered)?;
        first.0.push(ours.0);
        first.1.push(theirs.0);
        last.0.push(ours.1);
        last.1.push(theirs.1);
    }
    emulator.shutdown();
    Ok(Section {
        title: "Streaming: time to first byte".into(),
        lamina: "`InvokeWithResponseStream` of a `serve_streaming` function".into(),
        peer: "the same function through `Invoke` (buffered)".into(),
        rows: vec![
            Row::lower("time to the first byte, median", "ms", first),
            Row::lower("time to the last byte, median", "ms", last),
        ],
        notes: vec![
            "The function writes four chunks 50 ms apart; the streamed caller reads the event stream's first bytes as the first chunk leaves.".into(),
        ],
    })
}
