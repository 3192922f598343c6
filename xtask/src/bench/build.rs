//! `cargo lamina build` against `cargo lambda build --release --output-format zip` on the
//! same function (`bench/peer-hello`, a `lambda_runtime` hello): a cold build, a no-op
//! rebuild, the zip's size.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;

use super::measure::time_command;
use super::report::{Row, Section, Stats};
use crate::paths::{target_dir, workspace_root};

/// `cargo lamina`, built optimized as users install it.
fn cargo_lamina() -> anyhow::Result<PathBuf> {
    crate::paths::build_host("cargo-lamina", "cargo-lamina", "release")
}

fn lamina_build(lamina: &Path, target: &Path) -> Command {
    let mut command = Command::new(lamina);
    command
        .args(["lamina", "build", "--arch", "x86_64"])
        .current_dir(workspace_root().join("bench/peer-hello"))
        .env("CARGO_TARGET_DIR", target);
    command
}

fn cargo_lambda_build(target: &Path, lambda_dir: &Path) -> Command {
    let mut command = Command::new("cargo");
    command
        .args([
            "lambda",
            "build",
            "--quiet",
            "--release",
            "--x86-64",
            "--output-format",
            "zip",
        ])
        .arg("--lambda-dir")
        .arg(lambda_dir)
        .current_dir(workspace_root().join("bench/peer-hello"))
        .env("CARGO_TARGET_DIR", target);
    command
}

/// Cold builds are minutes each on a small machine: `cold_runs` of them, `runs` no-op ones.
pub fn section(runs: usize, cold_runs: usize) -> anyhow::Result<Section> {
    eprintln!("==> Build: cargo lamina build vs cargo lambda build");
    let lamina = cargo_lamina()?;
    let root = target_dir().join("bench/build");
    let (ours, theirs) = (root.join("lamina"), root.join("cargo-lambda"));
    let lambda_dir = root.join("cargo-lambda-out");
    let mut cold = (Stats::default(), Stats::default());
    for run in 1..=cold_runs {
        let _ = std::fs::remove_dir_all(&root);
        let a = time_command(&mut lamina_build(&lamina, &ours))?;
        let b = time_command(&mut cargo_lambda_build(&theirs, &lambda_dir))
            .context("cargo lambda build (install it with `pip install cargo-lambda`)")?;
        eprintln!("    cold run {run}: cargo lamina {a:.1} s, cargo lambda {b:.1} s");
        cold.0.push(a);
        cold.1.push(b);
    }
    let mut noop = (Stats::default(), Stats::default());
    for _ in 0..runs {
        noop.0
            .push(time_command(&mut lamina_build(&lamina, &ours))?);
        noop.1
            .push(time_command(&mut cargo_lambda_build(&theirs, &lambda_dir))?);
    }
    let size = |path: PathBuf| -> anyhow::Result<Stats> {
        let mut stats = Stats::default();
        stats.push(
            std::fs::metadata(&path)
                .with_context(|| format!("reading {}", path.display()))?
                .len() as f64,
        );
        Ok(stats)
    };
    let zips = (
        size(ours.join("lambda/peer-hello/x86_64/bootstrap.zip"))?,
        size(lambda_dir.join("bootstrap/bootstrap.zip"))?,
    );
    Ok(Section {
        title: "Build".into(),
        lamina: "`cargo lamina build --arch x86_64` (release cargo-lamina)".into(),
        peer: "`cargo lambda build --release --x86-64 --output-format zip` (PyPI's cargo-lambda)".into(),
        rows: vec![
            Row::lower("cold build of `bench/peer-hello` (empty target dir)", "s", cold),
            Row::lower("no-op rebuild, nothing changed", "s", noop),
            Row::lower("function zip size, x86_64", "bytes", zips),
        ],
        notes: vec![
            "The same function for both: `bench/peer-hello`, `lambda_runtime`'s hello, its own release profile.".into(),
            "lamina links static musl with rust-lld; cargo-lambda links glibc with zig. Both zips run on provided.al2023.".into(),
            "lamina's zip is byte-reproducible, so a no-op rebuild rewrites nothing; cargo-lambda's zip holds the binary's mtime.".into(),
        ],
    })
}
