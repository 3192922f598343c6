//! The reproducible cross-compile recipe: a Rust binary for Lambda's two architectures as a
//! static musl executable linked by `rust-lld` (no Docker, no zig, no C cross toolchain), in
//! any Cargo project.
//!
//! Every setting is passed per build (environment variables cargo reads), never taken from a
//! `.cargo/config.toml`, so the recipe holds in a project that has none.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use lamina_layer_builder::Architecture;

/// Builds binaries of one Cargo workspace.
#[derive(Clone, Debug)]
pub struct Compiler {
    /// The workspace root (its Cargo.toml is the manifest built).
    pub root: PathBuf,
    /// Where cargo writes (`CARGO_TARGET_DIR`).
    pub target_dir: PathBuf,
    /// Print cargo's progress (a first build takes minutes on small machines).
    pub show_progress: bool,
}

impl Compiler {
    /// The compiler of `project`'s workspace, showing cargo's progress on a terminal: a first
    /// build takes minutes on a small machine.
    pub fn for_project(project: &crate::project::Project) -> Compiler {
        Compiler {
            root: project.root.clone(),
            target_dir: project.target_dir.clone(),
            show_progress: true,
        }
    }

    /// Cross-compiles binary `bin` of package `package` for Lambda's `arch` in the release
    /// profile and returns the executable's path. A missing rustup target is added first.
    ///
    /// Paths of the build machine (the workspace, `CARGO_HOME`, the rustup home, the target
    /// dir) are remapped to fixed names so the bytes do not depend on where the checkout or
    /// the toolchain lives; the caller's `RUSTFLAGS` are replaced for the same reason.
    pub fn build_lambda(
        &self,
        package: &str,
        bin: &str,
        arch: Architecture,
    ) -> anyhow::Result<PathBuf> {
        let triple = arch.rust_target();
        ensure_rust_target(triple)?;
        let linker_var = format!(
            "CARGO_TARGET_{}_LINKER",
            triple.to_uppercase().replace('-', "_")
        );
        let mut cargo = self.cargo();
        cargo
            .args(["build", "--release", "--target", triple])
            .args(["--package", package, "--bin", bin])
            .env(linker_var, "rust-lld")
            .env(
                "CARGO_ENCODED_RUSTFLAGS",
                self.reproducible_rustflags().join("\x1f"),
            );
        run(&mut cargo)
            .with_context(|| format!("cross-compiling `{package}` (bin `{bin}`) for {triple}"))?;
        let exe = self.target_dir.join(triple).join("release").join(bin);
        if !exe.is_file() {
            bail!(
                "cargo built `{package}` for {triple} but {} is not there",
                exe.display()
            );
        }
        Ok(exe)
    }

    /// Builds binary `bin` of `package` for this machine in cargo profile `profile`.
    pub fn build_host(&self, package: &str, bin: &str, profile: &str) -> anyhow::Result<PathBuf> {
        let mut cargo = self.cargo();
        cargo.args([
            "build",
            "--package",
            package,
            "--bin",
            bin,
            "--profile",
            profile,
        ]);
        run(&mut cargo).with_context(|| format!("building `{package}` for this machine"))?;
        let dir = if profile == "dev" { "debug" } else { profile };
        let exe = self.target_dir.join(dir).join(bin);
        if !exe.is_file() {
            bail!("cargo built `{package}` but {} is not there", exe.display());
        }
        Ok(exe)
    }

    fn cargo(&self) -> Command {
        let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cargo
            .current_dir(&self.root)
            .env("CARGO_TARGET_DIR", &self.target_dir)
            .arg(if self.show_progress {
                "--color=auto"
            } else {
                "--quiet"
            });
        // The lockfile pins every dependency: the same commit gives the same bytes. A new
        // project without one gets one on its first build.
        if self.root.join("Cargo.lock").is_file() {
            cargo.arg("--locked");
        }
        cargo
    }

    /// `--remap-path-prefix` flags for every build-machine path that could end up in a
    /// binary. Later flags win when several match, so the most specific (the target dir,
    /// usually inside the workspace) comes last.
    pub fn reproducible_rustflags(&self) -> Vec<String> {
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
            (self.root.clone(), "/lamina"),
            (self.target_dir.clone(), "/lamina/target"),
        ];
        mappings
            .iter()
            .filter(|(from, _)| !from.as_os_str().is_empty())
            .map(|(from, to)| format!("--remap-path-prefix={}={to}", from.display()))
            .collect()
    }
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("running {:?} (is cargo on PATH?)", command.get_program()))?;
    if !status.success() {
        bail!("cargo failed ({status}); its messages are above");
    }
    Ok(())
}

/// Installs the rustup target `triple` when it is missing, as cargo-lambda does.
pub fn ensure_rust_target(triple: &str) -> anyhow::Result<()> {
    let listed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    let installed = match listed {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).into_owned()
        }
        // Without rustup (a distribution's Rust), cargo says what is missing itself.
        _ => return Ok(()),
    };
    if installed.lines().any(|line| line.trim() == triple) {
        return Ok(());
    }
    eprintln!("installing the Rust target {triple} (rustup target add {triple})");
    let status = Command::new("rustup")
        .args(["target", "add", triple])
        .status()
        .context("running rustup")?;
    if !status.success() {
        bail!("`rustup target add {triple}` failed; run it yourself and try again");
    }
    Ok(())
}

/// The Lambda architecture of this machine, whose binaries run here without emulation.
pub fn host_architecture() -> anyhow::Result<Architecture> {
    match std::env::consts::ARCH {
        "x86_64" => Ok(Architecture::X86_64),
        "aarch64" => Ok(Architecture::Arm64),
        other => bail!("this machine ({other}) is neither x86_64 nor arm64, Lambda's two"),
    }
}

/// lamina's own source, where `cargo lamina layer runtime` builds the runtime layer from:
/// the checkout this CLI was built from (`cargo install --path` or `--git` keep it).
pub fn lamina_source() -> anyhow::Result<PathBuf> {
    let cli_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = cli_dir
        .parent()
        .and_then(Path::parent)
        .unwrap_or(cli_dir)
        .to_path_buf();
    if root.join("layers/runtime/layer.toml").is_file() && root.join("Cargo.lock").is_file() {
        return Ok(root);
    }
    bail!(
        "lamina's source is not at {} any more (this cargo-lamina was built from there); \
         reinstall it with `cargo install --git https://github.com/lamina-rs/lamina cargo-lamina` \
         or download the runtime layer zip of this version from the release",
        root.display()
    )
}
