//! Building the workspace's binaries: for the host (to run locally) and, by
//! cross-compilation, for Lambda's two architectures.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use lamina_layer_builder::Architecture;
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

/// Cross-compiles binary `bin` of workspace package `package` for Lambda's
/// `arch` (a static musl executable, release profile, linked by rust-lld:
/// no Docker, no C cross toolchain) and returns the executable's path.
///
/// Paths of the build machine (the workspace, `CARGO_HOME`, the rustup
/// home, the target dir) are remapped to fixed names so the bytes do not
/// depend on where the checkout or the toolchain lives. Any `RUSTFLAGS` of
/// the caller's environment are replaced, for the same reason.
pub fn build_lambda(package: &str, bin: &str, arch: Architecture) -> anyhow::Result<PathBuf> {
    let triple = arch.rust_target();
    ensure_rust_target(triple)?;
    let sh = root_shell()?;
    let _rustflags = sh.push_env(
        "CARGO_ENCODED_RUSTFLAGS",
        reproducible_rustflags().join("\x1f"),
    );
    cmd!(
        sh,
        "cargo build --quiet --locked --release --target {triple} --package {package} --bin {bin}"
    )
    .run()
    .with_context(|| format!("cross-compiling `{package}` (bin `{bin}`) for {triple}"))?;
    let exe = target_dir().join(triple).join("release").join(bin);
    if !exe.is_file() {
        bail!(
            "cargo built `{package}` for {triple} but {} is not there",
            exe.display()
        );
    }
    Ok(exe)
}

/// `--remap-path-prefix` flags for every build-machine path that could end
/// up in a binary. Later flags win when several match, so the most specific
/// (the target dir, usually inside the workspace) comes last.
pub fn reproducible_rustflags() -> Vec<String> {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".cargo"));
    let rustup_home = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".rustup"));
    let mappings = [
        (rustup_home, "/rustup"),
        (cargo_home, "/cargo"),
        (workspace_root(), "/lamina"),
        (target_dir(), "/lamina/target"),
    ];
    mappings
        .iter()
        .filter(|(from, _)| !from.as_os_str().is_empty())
        .map(|(from, to)| format!("--remap-path-prefix={}={to}", from.display()))
        .collect()
}

/// Installs the rustup target `triple` when it is missing.
pub fn ensure_rust_target(triple: &str) -> anyhow::Result<()> {
    let sh = Shell::new()?;
    let installed = cmd!(sh, "rustup target list --installed")
        .read()
        .context("asking rustup which targets are installed (is rustup on PATH?)")?;
    if installed.lines().any(|line| line.trim() == triple) {
        return Ok(());
    }
    eprintln!("installing the Rust target {triple}");
    cmd!(sh, "rustup target add {triple}")
        .run()
        .with_context(|| format!("installing the Rust target {triple}"))?;
    Ok(())
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
