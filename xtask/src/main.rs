//! `cargo xtask`: every repository chore, in Rust, no shell scripts beside it.
//!
//! Each subcommand lives in its own module with an `Args` struct and a `run`
//! function; this file only dispatches.

mod bench;
mod check;
mod ci;
mod compile;
mod fsutil;
mod invoke;
mod layer;
mod package;
mod prerequisites;
mod publish;
mod release;
mod serve;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "lamina's repository tasks", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a sample, run it under the local Lambda emulator and invoke it once.
    Invoke(invoke::Args),
    /// Keep the local Lambda emulator up so any Invoke API client can call the function.
    Serve(serve::Args),
    /// Cross-compile a sample and write its byte-reproducible function zip.
    Package(package::Args),
    /// Build layers from their specs under `layers/` into byte-reproducible zips.
    Layer(layer::Args),
    /// Check a layer or function zip for what would fail on Lambda.
    Check(check::Args),
    /// Measure lamina against its peers and write `target/bench/report.md`.
    Bench(bench::Args),
    /// Build every layer and sample twice, and gather the zips, manifests and SHA256SUMS.
    Release(release::Args),
    /// Publish the release's layers with the AWS CLI, skipping unchanged ones.
    Publish(publish::Args),
    /// Run what CI runs: format check, clippy with warnings denied, every test.
    Ci(ci::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Invoke(args) => invoke::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Package(args) => package::run(args),
        Command::Layer(args) => layer::run(args),
        Command::Check(args) => check::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Release(args) => release::run(args),
        Command::Publish(args) => publish::run(args),
        Command::Ci(args) => ci::run(args),
    }
}
