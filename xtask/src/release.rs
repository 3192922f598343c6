//! `cargo xtask release`: every layer and sample for both architectures, built
//! twice to prove the bytes are reproducible, gathered with their manifests and a
//! `SHA256SUMS` file into one folder for the GitHub release.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use sha2::{Digest, Sha256};

use crate::paths::{target_dir, workspace_root};

#[derive(clap::Args)]
pub struct Args {
    /// Where the release assets go (emptied first).
    #[arg(long, default_value = "target/release-assets")]
    out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let out = if args.out.is_absolute() {
        args.out
    } else {
        workspace_root().join(args.out)
    };
    let layers = names_under("layers", "layer.toml")?;
    let samples = names_under("samples", "")?;

    for layer in &layers {
        xtask(&["layer", layer, "--arch", "all"])?;
    }
    for sample in &samples {
        xtask(&["package", sample, "--arch", "all"])?;
    }
    // The second build must give the same bytes: `--check` rebuilds and compares.
    for layer in &layers {
        xtask(&["layer", layer, "--arch", "all", "--check"])?;
    }
    for sample in &samples {
        xtask(&["package", sample, "--arch", "all", "--check"])?;
    }

    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("emptying {}", out.display()))?;
    }
    std::fs::create_dir_all(&out)?;
    let mut assets = Vec::new();
    for layer in &layers {
        for arch in ["x86_64", "arm64"] {
            let zip = target_dir().join(format!("layers/{layer}-{arch}.zip"));
            if !zip.is_file() {
                continue; // A layer restricted to one architecture (`architectures`).
            }
            assets.extend(copy_with_manifest(
                &zip,
                &out,
                &format!("lamina-layer-{layer}-{arch}.zip"),
            )?);
        }
    }
    for sample in &samples {
        for arch in ["x86_64", "arm64"] {
            let zip = target_dir().join(format!("lambda/{sample}/{arch}/bootstrap.zip"));
            if !zip.is_file() {
                continue; // A sample restricted to one architecture (`architectures`).
            }
            assets.extend(copy_with_manifest(
                &zip,
                &out,
                &format!("lamina-{sample}-{arch}.zip"),
            )?);
        }
    }
    let sums = sha256sums(&out, &assets)?;
    crate::fsutil::write_atomic(&out.join("SHA256SUMS"), sums.as_bytes())?;
    print!("{sums}");
    eprintln!(
        "{} assets and SHA256SUMS in {}",
        assets.len(),
        out.display()
    );
    Ok(())
}

/// Runs this xtask binary with `args`, failing when it fails.
fn xtask(args: &[&str]) -> anyhow::Result<()> {
    eprintln!("\n==> cargo xtask {}", args.join(" "));
    let status = Command::new(crate::paths::xtask_exe()?)
        .args(args)
        .current_dir(workspace_root())
        .status()?;
    if !status.success() {
        bail!("cargo xtask {} failed", args.join(" "));
    }
    Ok(())
}

/// The folder names under `dir` (that hold `marker`, when given), sorted.
fn names_under(dir: &str, marker: &str) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(workspace_root().join(dir))? {
        let path = entry?.path();
        if path.is_dir()
            && (marker.is_empty() || path.join(marker).is_file())
            && let Some(name) = path.file_name().and_then(|n| n.to_str())
        {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// Copies `zip` and the manifest beside it into `out` as `name` and
/// `name.manifest.json`; returns the names of what was copied.
fn copy_with_manifest(zip: &Path, out: &Path, name: &str) -> anyhow::Result<Vec<String>> {
    std::fs::copy(zip, out.join(name)).with_context(|| format!("copying {}", zip.display()))?;
    let mut copied = vec![name.to_string()];
    let manifest = manifest_of(zip);
    if manifest.is_file() {
        let manifest_name = format!("{name}.manifest.json");
        std::fs::copy(&manifest, out.join(&manifest_name))?;
        copied.push(manifest_name);
    } else {
        bail!(
            "{} has no manifest beside it ({})",
            zip.display(),
            manifest.display()
        );
    }
    Ok(copied)
}

fn manifest_of(zip: &Path) -> PathBuf {
    let mut name = zip.as_os_str().to_owned();
    name.push(".manifest.json");
    PathBuf::from(name)
}

/// `SHA256SUMS` in the format `sha256sum --check` reads: `<hex>  <name>`.
fn sha256sums(dir: &Path, names: &[String]) -> anyhow::Result<String> {
    let mut sorted = names.to_vec();
    sorted.sort();
    let mut text = String::new();
    for name in sorted {
        let bytes = std::fs::read(dir.join(&name))?;
        let digest = Sha256::digest(&bytes);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        text.push_str(&format!("{hex}  {name}\n"));
    }
    Ok(text)
}
