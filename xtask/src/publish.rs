//! `cargo xtask publish`: publishes the release's layer zips with the AWS CLI,
//! skipping every layer whose `CodeSha256` equals its latest published version's.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The largest zip `publish-layer-version --zip-file` takes; larger goes through S3.
const DIRECT_UPLOAD_LIMIT: u64 = 50 * 1024 * 1024;

#[derive(clap::Args)]
pub struct Args {
    /// The folder `cargo xtask release` wrote (holds `lamina-layer-<name>-<arch>.zip`).
    #[arg(long)]
    assets: PathBuf,
    /// Say what would be published, call no AWS API that changes anything.
    #[arg(long)]
    dry_run: bool,
}

/// A layer zip of the release and the AWS layer it is published as.
#[derive(Debug, PartialEq)]
struct LayerAsset {
    /// AWS layer name: `lamina-<name>-<arch>` (one layer per architecture).
    layer_name: String,
    /// `x86_64` or `arm64`, as `--compatible-architectures` spells it.
    arch: String,
}

/// Parses `lamina-layer-<name>-<arch>.zip`; anything else is not a layer asset.
fn layer_asset(file_name: &str) -> Option<LayerAsset> {
    let stem = file_name
        .strip_prefix("lamina-layer-")?
        .strip_suffix(".zip")?;
    let (name, arch) = stem.rsplit_once('-')?;
    if name.is_empty() || !matches!(arch, "x86_64" | "arm64") {
        return None;
    }
    Some(LayerAsset {
        layer_name: format!("lamina-{name}-{arch}"),
        arch: arch.to_string(),
    })
}

#[derive(Debug, PartialEq)]
enum Action {
    Publish,
    /// The latest version (this ARN) already has these bytes.
    Skip(String),
}

/// Publish unless the latest version's `CodeSha256` is ours.
fn decide(code_sha256: &str, latest: Option<(String, String)>) -> Action {
    match latest {
        Some((arn, sha)) if sha == code_sha256 => Action::Skip(arn),
        _ => Action::Publish,
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut zips: Vec<PathBuf> = std::fs::read_dir(&args.assets)
        .with_context(|| format!("reading {}", args.assets.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    zips.sort();
    let mut published = 0;
    for zip in zips {
        let Some(asset) = zip
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(layer_asset)
        else {
            continue;
        };
        let bytes = std::fs::read(&zip).with_context(|| format!("reading {}", zip.display()))?;
        let code_sha256 = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&bytes));
        match decide(&code_sha256, latest_version(&asset.layer_name)?) {
            Action::Skip(arn) => println!(
                "{}: unchanged, latest version {arn} has CodeSha256 {code_sha256}",
                asset.layer_name
            ),
            Action::Publish if args.dry_run => println!(
                "{}: would publish {} ({code_sha256})",
                asset.layer_name,
                zip.display()
            ),
            Action::Publish => {
                if bytes.len() as u64 > DIRECT_UPLOAD_LIMIT {
                    bail!(
                        "{} is {} bytes, over the {DIRECT_UPLOAD_LIMIT}-byte limit of a direct upload: publish it through S3",
                        zip.display(),
                        bytes.len()
                    );
                }
                let arn = publish(&asset, &zip)?;
                println!("{}: published {arn}", asset.layer_name);
                published += 1;
            }
        }
    }
    eprintln!("{published} layer version(s) published");
    Ok(())
}

/// The latest version's ARN and `CodeSha256`, or `None` when the layer has no version yet.
fn latest_version(layer_name: &str) -> anyhow::Result<Option<(String, String)>> {
    let arn = aws(&[
        "lambda",
        "list-layer-versions",
        "--layer-name",
        layer_name,
        "--max-items",
        "1",
        "--query",
        "LayerVersions[0].LayerVersionArn",
        "--output",
        "text",
    ])?;
    if arn.is_empty() || arn == "None" {
        return Ok(None);
    }
    let sha = aws(&[
        "lambda",
        "get-layer-version-by-arn",
        "--arn",
        &arn,
        "--query",
        "Content.CodeSha256",
        "--output",
        "text",
    ])?;
    Ok(Some((arn, sha)))
}

fn publish(asset: &LayerAsset, zip: &Path) -> anyhow::Result<String> {
    let zip_file = format!("fileb://{}", zip.display());
    let description = format!("lamina {} ({})", env!("CARGO_PKG_VERSION"), asset.arch);
    aws(&[
        "lambda",
        "publish-layer-version",
        "--layer-name",
        &asset.layer_name,
        "--zip-file",
        &zip_file,
        "--compatible-runtimes",
        "provided.al2023",
        "--compatible-architectures",
        &asset.arch,
        "--description",
        &description,
        "--query",
        "LayerVersionArn",
        "--output",
        "text",
    ])
}

/// Runs the AWS CLI and returns its trimmed standard output.
fn aws(args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("aws")
        .args(args)
        .output()
        .context("running the AWS CLI (`aws`)")?;
    if !output.status.success() {
        bail!(
            "aws {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_assets_are_recognised_by_name() {
        assert_eq!(
            layer_asset("lamina-layer-runtime-arm64.zip"),
            Some(LayerAsset {
                layer_name: "lamina-runtime-arm64".into(),
                arch: "arm64".into()
            })
        );
        assert_eq!(
            layer_asset("lamina-layer-jq-tools-x86_64.zip"),
            Some(LayerAsset {
                layer_name: "lamina-jq-tools-x86_64".into(),
                arch: "x86_64".into()
            })
        );
        assert_eq!(layer_asset("lamina-sample-hello-arm64.zip"), None);
        assert_eq!(
            layer_asset("lamina-layer-runtime-arm64.zip.manifest.json"),
            None
        );
        assert_eq!(layer_asset("lamina-layer-runtime-riscv.zip"), None);
        assert_eq!(layer_asset("lamina-layer--arm64.zip"), None);
    }

    #[test]
    fn unchanged_bytes_are_not_published_again() {
        let latest = Some((
            "arn:aws:lambda:us-east-1:1:layer:x:3".to_string(),
            "abc=".to_string(),
        ));
        assert_eq!(
            decide("abc=", latest.clone()),
            Action::Skip("arn:aws:lambda:us-east-1:1:layer:x:3".into())
        );
        assert_eq!(decide("xyz=", latest), Action::Publish);
        assert_eq!(decide("abc=", None), Action::Publish);
    }
}
