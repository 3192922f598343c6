//! Building the workspace's binaries: for the host (to run locally) and, by
//! cross-compilation, for Lambda's two architectures.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use xshell::{Shell, cmd};

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

/// Builds binary `bin` of workspace package `package` for the host in the
/// given cargo profile (`dev` or `release`) and returns the executable's path.
pub fn build_host(package: &str, bin: &str, profile: &str) -> anyhow::Result<PathBuf> {
    let sh = root_shell()?;
    ensure_package_exists(package)?;
    cmd!(
        sh,
        "cargo build --quiet --package {package} --bin {bin} --profile {profile}"
    )
    .run()
    .with_context(|| format!("building `{package}` for the host"))?;
    let dir = if profile == "dev" { "debug" } else { profile };
    let exe = target_dir().join(dir).join(bin);
    if !exe.is_file() {
        bail!("cargo built `{package}` but {} is not there", exe.display());
    }
    Ok(exe)
}

/// Fails with the list of what exists when `package` is not a workspace member.
pub fn ensure_package_exists(package: &str) -> anyhow::Result<()> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(workspace_root().join("Cargo.toml"))
        .no_deps()
        .exec()
        .context("reading the workspace's metadata")?;
    if metadata
        .workspace_packages()
        .iter()
        .any(|p| p.name.as_str() == package)
    {
        return Ok(());
    }
    let mut names: Vec<&str> = metadata
        .workspace_packages()
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    names.sort_unstable();
    bail!(
        "no package `{package}` in the workspace; there are: {}",
        names.join(", ")
    )
}
