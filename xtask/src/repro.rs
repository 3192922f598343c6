//! `cargo xtask package SAMPLE --reproducibility` and the last step of `cargo xtask ci`:
//! the same commit gives the same zip, byte for byte, in another folder, umask and time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use lamina_cli::pipeline::function_zip_path;
use lamina_layer_builder::{Architecture, Manifest, Mode, manifest_path};

use crate::package::package_sample;
use crate::paths::{target_dir, workspace_root};

/// Proves that `sample-hello`'s zips do not depend on where, when or by whom
/// they are built; see [`check_sample`].
pub fn check() -> anyhow::Result<()> {
    check_sample("sample-hello")
}

/// Packages `sample` twice and fails unless both give the same bytes for every
/// architecture: once in this checkout, then in a fresh clone of HEAD in another,
/// deeper folder, under umask 077, later. The clone's xtask is compiled into a
/// target dir shared between runs (it is not what is compared); the sample
/// itself is compiled from scratch in the clone's own target dir, so nothing of
/// the first build can leak into the second.
pub fn check_sample(sample: &str) -> anyhow::Result<()> {
    let root = workspace_root();
    eprintln!("==> packaging {sample} in {}", root.display());
    package_sample(sample, &Architecture::all(), Mode::Write)?;
    let first = zip_shas(&target_dir(), sample)?;

    let scratch = std::env::temp_dir().join(format!("lamina-repro-{}", std::process::id()));
    let clone = scratch.join("a/deeper/folder/lamina");
    let result = build_in_clone(&clone, "077", sample).and_then(|second| {
        compare_builds(
            sample,
            &target_dir(),
            &clone.join("target"),
            &first,
            &second,
        )
    });
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// Clones HEAD into `dir` under `umask`, packages `sample` there into the
/// clone's own target dir, and returns the sha256 of each architecture's zip.
fn build_in_clone(
    dir: &Path,
    umask: &str,
    sample: &str,
) -> anyhow::Result<BTreeMap<Architecture, String>> {
    let parent = dir.parent().context("clone folder has a parent")?;
    std::fs::create_dir_all(parent)?;
    eprintln!(
        "==> cloning HEAD into {} (umask {umask}) and packaging {sample}",
        dir.display()
    );
    let xtask_target = target_dir().join("reproducibility-xtask");
    let script = r#"umask "$1" && git clone --quiet --no-hardlinks "$2" "$3" && cd "$3" && CARGO_TARGET_DIR="$5" cargo build --quiet --package xtask && "$5/debug/xtask" package "$4" --arch all"#;
    let status = Command::new("sh")
        .args(["-c", script, "sh", umask])
        .arg(workspace_root())
        .arg(dir)
        .arg(sample)
        .arg(&xtask_target)
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .context("running sh")?;
    if !status.success() {
        bail!("packaging {sample} in the clone {} failed", dir.display());
    }
    zip_shas(&dir.join("target"), sample)
}

fn sample_zip(target: &Path, sample: &str, arch: Architecture) -> PathBuf {
    function_zip_path(target, sample, arch)
}

fn zip_shas(target: &Path, sample: &str) -> anyhow::Result<BTreeMap<Architecture, String>> {
    let mut shas = BTreeMap::new();
    for arch in Architecture::ALL {
        let sha = lamina_layer_builder::zip_sha256(&sample_zip(target, sample, arch))?;
        shas.insert(arch, sha);
    }
    Ok(shas)
}

fn compare_builds(
    sample: &str,
    target_a: &Path,
    target_b: &Path,
    shas_a: &BTreeMap<Architecture, String>,
    shas_b: &BTreeMap<Architecture, String>,
) -> anyhow::Result<()> {
    let mut failures = Vec::new();
    for arch in Architecture::ALL {
        let (sha_a, sha_b) = (&shas_a[&arch], &shas_b[&arch]);
        if sha_a == sha_b {
            println!("{sample} {arch}: {sha_a} in both builds");
            continue;
        }
        let (zip_a, zip_b) = (
            sample_zip(target_a, sample, arch),
            sample_zip(target_b, sample, arch),
        );
        let differing = differing_entries(&zip_a, &zip_b)
            .unwrap_or_else(|e| format!("(manifests unreadable: {e})"));
        failures.push(format!(
            "{sample} {arch}: {sha_a} in {} but {sha_b} in {}; {differing}",
            zip_a.display(),
            zip_b.display()
        ));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        bail!("not reproducible:\n{}", failures.join("\n"))
    }
}

/// Names the manifest entries that differ between two builds.
fn differing_entries(zip_a: &Path, zip_b: &Path) -> anyhow::Result<String> {
    let a = Manifest::read(&manifest_path(zip_a))?;
    let b = Manifest::read(&manifest_path(zip_b))?;
    let differing: Vec<&str> = a
        .files
        .iter()
        .filter(|entry| !b.files.contains(entry))
        .map(|entry| entry.path.as_str())
        .collect();
    Ok(if differing.is_empty() {
        "same entries, different zip bytes".into()
    } else {
        format!("entries that differ: {}", differing.join(", "))
    })
}
