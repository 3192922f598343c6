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
    /// The AWS CLI to run.
    #[arg(long, default_value = "aws")]
    aws_cli: PathBuf,
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
        match decide(
            &code_sha256,
            latest_version(&args.aws_cli, &asset.layer_name)?,
        ) {
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
                let arn = publish(&args.aws_cli, &asset, &zip)?;
                println!("{}: published {arn}", asset.layer_name);
                published += 1;
            }
        }
    }
    eprintln!("{published} layer version(s) published");
    Ok(())
}

/// The latest version's ARN and `CodeSha256`, or `None` when the layer has no version yet.
fn latest_version(cli: &Path, layer_name: &str) -> anyhow::Result<Option<(String, String)>> {
    let arn = aws(
        cli,
        &[
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
        ],
    )?;
    if arn.is_empty() || arn == "None" {
        return Ok(None);
    }
    let sha = aws(
        cli,
        &[
            "lambda",
            "get-layer-version-by-arn",
            "--arn",
            &arn,
            "--query",
            "Content.CodeSha256",
            "--output",
            "text",
        ],
    )?;
    Ok(Some((arn, sha)))
}

fn publish(cli: &Path, asset: &LayerAsset, zip: &Path) -> anyhow::Result<String> {
    let zip_file = format!("fileb://{}", zip.display());
    let description = format!("lamina {} ({})", env!("CARGO_PKG_VERSION"), asset.arch);
    aws(
        cli,
        &[
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
        ],
    )
}

/// Runs the AWS CLI and returns its trimmed standard output.
fn aws(cli: &Path, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(cli)
        .args(args)
        .output()
        .with_context(|| format!("running the AWS CLI (`{}`)", cli.display()))?;
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
#[allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
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

    /// A stand-in for the AWS CLI: `lamina-runtime-x86_64`'s latest version has the CodeSha256
    /// in `$1` of the script; no other layer has a version. Every call is appended to `calls`.
    fn fake_aws(dir: &Path, known_sha: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let script = format!(
            r#"#!/bin/sh
echo "$*" >> '{calls}'
case "$*" in
  *list-layer-versions*lamina-runtime-x86_64*) echo arn:aws:lambda:us-east-1:1:layer:lamina-runtime-x86_64:7 ;;
  *list-layer-versions*) echo None ;;
  *get-layer-version-by-arn*) echo '{known_sha}' ;;
  *publish-layer-version*) echo "arn:aws:lambda:us-east-1:1:layer:$4:1" ;;
  *) exit 1 ;;
esac
"#,
            calls = dir.join("calls").display()
        );
        let path = dir.join("aws");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn publishes_changed_layers_and_skips_the_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let assets = dir.path().join("assets");
        std::fs::create_dir(&assets).unwrap();
        for (name, bytes) in [
            ("lamina-layer-runtime-x86_64.zip", &b"same bytes"[..]),
            ("lamina-layer-runtime-arm64.zip", b"new bytes"),
            ("lamina-sample-hello-arm64.zip", b"not a layer"),
        ] {
            std::fs::write(assets.join(name), bytes).unwrap();
        }
        let known = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"same bytes"));
        let aws_cli = fake_aws(dir.path(), &known);

        run(Args {
            assets: assets.clone(),
            dry_run: false,
            aws_cli: aws_cli.clone(),
        })
        .unwrap();
        let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
        let published: Vec<&str> = calls
            .lines()
            .filter(|c| c.contains("publish-layer-version"))
            .collect();
        assert_eq!(published.len(), 1, "{calls}");
        assert!(
            published[0].contains("--layer-name lamina-runtime-arm64"),
            "{calls}"
        );
        assert!(
            published[0].contains("--compatible-runtimes provided.al2023"),
            "{calls}"
        );
        assert!(
            published[0].contains("--compatible-architectures arm64"),
            "{calls}"
        );
        assert!(!calls.contains("sample-hello"), "{calls}");

        // A dry run asks, but publishes nothing.
        std::fs::remove_file(dir.path().join("calls")).unwrap();
        run(Args {
            assets,
            dry_run: true,
            aws_cli,
        })
        .unwrap();
        let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
        assert!(!calls.contains("publish-layer-version"), "{calls}");
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
