//! Where this repository and its build output are, and the shell and builds chores use.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use lamina_cli::compile::Compiler;
use xshell::Shell;

/// The workspace root: the folder above `xtask/`.
pub fn workspace_root() -> PathBuf {
    let xtask_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask_dir.parent().unwrap_or(xtask_dir).to_path_buf()
}

/// A shell whose working directory is the workspace root.
pub fn root_shell() -> anyhow::Result<Shell> {
    let sh = Shell::new()?;
    sh.change_dir(workspace_root());
    Ok(sh)
}

/// The directory cargo writes build output to (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        None => workspace_root().join("target"),
    }
}

/// Builds this repository's binaries, quietly: the chores print their own progress.
pub fn compiler() -> Compiler {
    Compiler {
        root: workspace_root(),
        target_dir: target_dir(),
        show_progress: false,
    }
}

/// Builds binary `bin` of workspace package `package` for the host in cargo profile `profile`.
pub fn build_host(package: &str, bin: &str, profile: &str) -> anyhow::Result<PathBuf> {
    compiler().build_host(package, bin, profile)
}

/// This xtask's own executable, to run another subcommand as a child process.
/// A rebuild while it runs replaces the file: `/proc` then names the old one
/// `... (deleted)`, and the new one at the same path is the one to run.
pub fn xtask_exe() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("finding the xtask executable")?;
    let text = exe.to_string_lossy();
    Ok(match text.strip_suffix(" (deleted)") {
        Some(path) => PathBuf::from(path),
        None => exe,
    })
}
