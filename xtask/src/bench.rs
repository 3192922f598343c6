//! `cargo xtask bench`: lamina measured against its peers, in one run, into one
//! markdown report (`target/bench/report.md`). Every figure stands next to a
//! peer's figure from the same run and the ratio between them; each is the
//! median of several runs, with the spread (min–max).

mod measure;
mod report;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use xshell::cmd;

use crate::compile::{build_host, root_shell, target_dir};
use measure::Function;
use report::{Report, Row, Section, Stats};

#[derive(clap::Args)]
pub struct Args {
    /// Runs of each measurement; the report gives the median and the spread.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Warm invocations in each throughput run.
    #[arg(long, default_value_t = 2000)]
    invocations: usize,
    /// Only these sections (comma-separated): rust, emulator.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

const HELLO_EVENT: &[u8] = br#"{"name":"Ada"}"#;

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.runs >= 1, "--runs must be at least 1");
    anyhow::ensure!(args.invocations >= 10, "--invocations must be at least 10");
    let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    let mut report = Report::new(args.runs, args.invocations);

    if wanted("rust") || wanted("emulator") {
        eprintln!("==> building sample-hello (lamina) and peer-hello (lambda_runtime), release");
        let lamina = build_host("sample-hello", "bootstrap", "release")?;
        if wanted("rust") {
            let peer = build_peer()?;
            report.push(rust_runtime(&args, &lamina, &peer)?);
        }
        if wanted("emulator") {
            report.push(emulators(&args, &lamina)?);
        }
    }

    let out = target_dir().join("bench/report.md");
    let text = report.render();
    crate::fsutil::write_atomic(&out, text.as_bytes())?;
    println!("{text}");
    eprintln!("written to {}", out.display());
    Ok(())
}

/// `peer-hello` (crates.io's `lambda_runtime`), built in its own workspace.
fn build_peer() -> anyhow::Result<PathBuf> {
    let sh = root_shell()?;
    let target = target_dir().join("bench/peer");
    cmd!(sh, "cargo build --quiet --release --manifest-path bench/peer-hello/Cargo.toml --target-dir {target}")
        .run()
        .context("building bench/peer-hello")?;
    Ok(target.join("release/bootstrap"))
}

/// lamina's runtime against `lambda_runtime`: the same function, both under lamina's emulator.
fn rust_runtime(args: &Args, lamina: &Path, peer: &Path) -> anyhow::Result<Section> {
    eprintln!("==> Rust runtime: sample-hello vs lambda_runtime");
    let mut throughput = (Stats::default(), Stats::default());
    let mut latency = (Stats::default(), Stats::default());
    let mut init = (Stats::default(), Stats::default());
    let mut memory = (Stats::default(), Stats::default());
    let mut instructions = (Stats::default(), Stats::default());
    let per_run = (args.invocations / 4).max(50);
    for run in 1..=args.runs {
        let ours = measure::warm_run(
            &Function::executable(lamina),
            HELLO_EVENT,
            1,
            args.invocations,
        )?;
        let theirs = measure::warm_run(
            &Function::executable(peer),
            HELLO_EVENT,
            1,
            args.invocations,
        )?;
        eprintln!(
            "    run {run}: lamina {:.0} inv/s, lambda_runtime {:.0} inv/s",
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
        lamina,
        HELLO_EVENT,
        per_run,
    )?);
    instructions.1.push(measure::instructions_per_invocation(
        peer,
        HELLO_EVENT,
        per_run,
    )?);

    let mut rows = vec![
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
    ];
    for arch in ["x86_64", "arm64"] {
        let sizes = (
            Stats::from(measure::lamina_zip_size("sample-hello", arch)?),
            Stats::from(measure::cargo_lambda_zip_size(arch)?),
        );
        rows.push(Row::lower(
            &format!("function zip size, {arch}"),
            "bytes",
            sizes,
        ));
    }
    Ok(Section {
        title: "Rust runtime".into(),
        lamina: "lamina-runtime (`samples/sample-hello`)".into(),
        peer: "crates.io `lambda_runtime` 1.x (`bench/peer-hello`)".into(),
        rows,
        notes: vec![
            "Both functions run under lamina's emulator; release profile (lto, one codegen unit), host build.".into(),
            "Instructions: (I(2k) − I(k)) / k over whole processes that served k and 2k invocations, so start-up cancels out.".into(),
            "Zips: lamina's from `cargo xtask package`, the peer's from `cargo lambda build --release --output-format zip` (PyPI's cargo-lambda).".into(),
        ],
    })
}

/// lamina's emulator against `cargo lambda watch --only-lambda-apis`, serving the same function.
fn emulators(args: &Args, function: &Path) -> anyhow::Result<Section> {
    eprintln!("==> Emulator: lamina vs cargo lambda watch");
    let mut rows = Vec::new();
    for concurrency in [1, 4] {
        let mut pair = (Stats::default(), Stats::default());
        for run in 1..=args.runs {
            let ours = measure::warm_run(
                &Function::executable(function),
                HELLO_EVENT,
                concurrency,
                args.invocations,
            )?;
            let theirs =
                measure::cargo_lambda_run(function, HELLO_EVENT, concurrency, args.invocations)?;
            eprintln!(
                "    run {run}, concurrency {concurrency}: lamina {:.0} inv/s, cargo-lambda {theirs:.0} inv/s",
                ours.per_second
            );
            pair.0.push(ours.per_second);
            pair.1.push(theirs);
        }
        rows.push(Row::higher(
            &format!("invocations per second, concurrency {concurrency}"),
            "inv/s",
            pair,
        ));
    }
    Ok(Section {
        title: "Emulator".into(),
        lamina: "lamina's emulator".into(),
        peer: "`cargo lambda watch --only-lambda-apis` (PyPI's cargo-lambda)".into(),
        rows,
        notes: vec![
            "The function is lamina's `sample-hello` in both, with as many function processes as callers; each caller keeps one connection.".into(),
        ],
    })
}
