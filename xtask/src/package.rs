//! `cargo xtask package SAMPLE` and `cargo xtask layer [NAME]`: the repository's samples and
//! layers through the same code as `cargo lamina build` and `cargo lamina layer`.

use anyhow::bail;
use lamina_cli::arch::{ArchChoice, parse_arch_choice};
use lamina_cli::layer::{LayerBuilder, LayerRef, layer_names};
use lamina_cli::package::{options_from_env, package_function, table};
use lamina_cli::pipeline::Packaged;
use lamina_cli::project::{Project, Selection};
use lamina_layer_builder::{Architecture, Mode};

use crate::paths::{compiler, workspace_root};

#[derive(clap::Args)]
pub struct PackageArgs {
    /// The sample: a function under `samples/`.
    pub sample: String,
    /// Which architecture(s) to build: x86_64, arm64 or all.
    #[arg(long, default_value = "all", value_parser = parse_arch_choice)]
    arch: ArchChoice,
    /// Rebuild and fail if any byte differs from the zip on disk.
    #[arg(long)]
    check: bool,
    /// Build the sample here and in a fresh clone of HEAD (another folder, umask and time)
    /// and fail unless both give the same zips.
    #[arg(long, conflicts_with = "check")]
    pub reproducibility: bool,
}

#[derive(clap::Args)]
pub struct LayerArgs {
    /// The layer (a folder under `layers/`); every layer when left out.
    name: Option<String>,
    /// Which architecture(s) to build: x86_64, arm64 or all.
    #[arg(long, default_value = "all", value_parser = parse_arch_choice)]
    arch: ArchChoice,
    /// Rebuild and fail if any byte differs from the zips on disk.
    #[arg(long)]
    check: bool,
}

fn mode(check: bool) -> Mode {
    if check { Mode::Check } else { Mode::Write }
}

/// lamina's own workspace as a `cargo lamina` project.
pub fn repository() -> anyhow::Result<Project> {
    Project::discover(&Selection {
        manifest_path: Some(workspace_root().join("Cargo.toml")),
        ..Selection::default()
    })
}

/// Packages the sample, or checks it with `--check` (`--reproducibility` is
/// `repro`'s, dispatched by `main`).
pub fn run_package(args: PackageArgs) -> anyhow::Result<()> {
    let built = package_sample(&args.sample, &args.arch.0, mode(args.check))?;
    print(&built);
    Ok(())
}

/// Packages `samples/<sample>` for `archs`.
pub fn package_sample(
    sample: &str,
    archs: &[Architecture],
    mode: Mode,
) -> anyhow::Result<Vec<Packaged>> {
    let project = repository()?;
    let function = project.function(sample)?;
    package_function(
        &project,
        function,
        &compiler(),
        archs,
        &options_from_env()?,
        mode,
    )
}

pub fn run_layer(args: LayerArgs) -> anyhow::Result<()> {
    let project = repository()?;
    let names = match args.name {
        Some(name) => vec![name],
        None => layer_names(&project.root.join("layers"))?,
    };
    let options = options_from_env()?;
    let compiler = compiler();
    let builder = LayerBuilder {
        project: &project,
        compiler: &compiler,
        options: &options,
        mode: mode(args.check),
    };
    let mut built = Vec::new();
    for name in names {
        let Some(dir) = project.layer_dir(&name) else {
            bail!(
                "no layer `{name}` under layers/; layers are: {}",
                layer_names(&project.root.join("layers"))?.join(", ")
            );
        };
        let layer = LayerRef::Spec { name, dir };
        built.extend(builder.build(&layer, &args.arch.0)?.unwrap_or_default());
    }
    print(&built);
    Ok(())
}

fn print(packaged: &[Packaged]) {
    for zip in packaged {
        print!("{}", zip.report());
    }
    let built: Vec<_> = packaged.iter().map(|p| &p.built).collect();
    print!("{}", table(&built));
}
