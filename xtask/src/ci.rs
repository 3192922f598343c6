//! `cargo xtask ci`: exactly what CI runs, so a contributor can run it first.

use xshell::cmd;

use crate::compile::root_shell;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<()> {
    let sh = root_shell()?;
    step("format");
    cmd!(sh, "cargo fmt --all --check").run()?;
    step("clippy");
    cmd!(sh, "cargo clippy --workspace --all-targets --locked -- -D warnings").run()?;
    step("tests");
    cmd!(sh, "cargo test --workspace --locked").run()?;
    Ok(())
}

fn step(name: &str) {
    eprintln!("\n==> {name}");
}
