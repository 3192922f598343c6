//! `cargo xtask`: the repository's chores (CI, benchmarks, releases), in Rust. What a user
//! needs is in `cargo lamina` (crates/cli); `package` and `layer` go through its code.
//!
//! Each subcommand lives in its own module with an `Args` struct and a `run`
//! function; this file only dispatches.

mod bench;
mod ci;
mod fsutil;
mod package;
mod paths;
mod prerequisites;
mod publish;
mod release;
mod repro;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "lamina's repository tasks", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Package a sample as `cargo lamina build` does (same code), for the release.
    Package(package::PackageArgs),
    /// Build the layers under `layers/` as `cargo lamina layer` does (same code).
    Layer(package::LayerArgs),
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
        Command::Package(args) if args.reproducibility => repro::check_sample(&args.sample),
        Command::Package(args) => package::run_package(args),
        Command::Layer(args) => package::run_layer(args),
        Command::Bench(args) => bench::run(args),
        Command::Release(args) => release::run(args),
        Command::Publish(args) => publish::run(args),
        Command::Ci(args) => ci::run(args),
    }
}
