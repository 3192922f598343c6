//! `cargo xtask publish`: publishes the release's layer zips with lamina-deploy (the AWS SDK
//! for Rust; no AWS CLI), skipping every layer whose `CodeSha256` equals its latest
//! published version's. The same code as `cargo lamina deploy`'s layers.

use std::path::PathBuf;

use anyhow::Context as _;
use lamina_deploy::{ApplyOptions, Arch, ClientOptions, LocalLayer, code_sha256};

#[derive(clap::Args)]
pub struct Args {
    /// The folder `cargo xtask release` wrote (holds `lamina-layer-<name>-<arch>.zip`).
    #[arg(long)]
    assets: PathBuf,
    /// Print the plan (publish / skip, with the reason) and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// The AWS region [default: AWS_REGION, the profile's].
    #[arg(long)]
    region: Option<String>,
    /// Another AWS API endpoint [default: AWS_ENDPOINT_URL].
    #[arg(long)]
    endpoint_url: Option<String>,
}

/// A layer zip of the release and the AWS layer it is published as.
#[derive(Debug, PartialEq)]
struct LayerAsset {
    /// AWS layer name: `lamina-<name>-<arch>` (one layer per architecture).
    layer_name: String,
    /// The architecture, as `--compatible-architectures` spells it.
    arch: Arch,
}

/// Parses `lamina-layer-<name>-<arch>.zip`; anything else is not a layer asset.
fn layer_asset(file_name: &str) -> Option<LayerAsset> {
    let stem = file_name
        .strip_prefix("lamina-layer-")?
        .strip_suffix(".zip")?;
    let (name, arch) = stem.rsplit_once('-')?;
    let arch = match arch {
        "x86_64" => Arch::X86_64,
        "arm64" => Arch::Arm64,
        _ => return None,
    };
    if name.is_empty() {
        return None;
    }
    Some(LayerAsset {
        layer_name: format!("lamina-{name}-{arch}"),
        arch,
    })
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut zips: Vec<PathBuf> = std::fs::read_dir(&args.assets)
        .with_context(|| format!("reading {}", args.assets.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    zips.sort();
    let mut layers = Vec::new();
    for zip in zips {
        let Some(asset) = zip
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(layer_asset)
        else {
            continue;
        };
        layers.push(LocalLayer {
            name: asset.layer_name,
            code_sha256: code_sha256(&zip)?,
            zip_path: zip,
            compatible_runtimes: vec![lamina_layer_builder::DEFAULT_RUNTIME.to_owned()],
            compatible_architectures: vec![asset.arch],
            description: format!("lamina {}", env!("CARGO_PKG_VERSION")),
        });
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = lamina_deploy::connect(&ClientOptions {
            region: args.region.clone(),
            endpoint_url: args.endpoint_url.clone(),
            profile: None,
        })
        .await?;
        let plan = lamina_deploy::plan_layers(&client, &layers).await?;
        print!("{plan}");
        if args.dry_run {
            println!("(--dry-run: nothing published)");
            return Ok(());
        }
        let report = lamina_deploy::apply(&client, &plan, &ApplyOptions::default()).await?;
        print!("{report}");
        Ok::<_, anyhow::Error>(())
    })
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
                arch: Arch::Arm64
            })
        );
        assert_eq!(
            layer_asset("lamina-layer-xml-tools-x86_64.zip").map(|a| a.layer_name),
            Some("lamina-xml-tools-x86_64".into())
        );
        for other in [
            "lamina-sample-hello-arm64.zip",
            "lamina-layer-runtime-arm64.zip.manifest.json",
            "lamina-layer-runtime-riscv.zip",
            "lamina-layer--arm64.zip",
            "SHA256SUMS",
        ] {
            assert_eq!(layer_asset(other), None, "{other}");
        }
    }
}
