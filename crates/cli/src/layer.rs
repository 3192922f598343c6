//! Layers: a `layer.toml` folder (format: `layers/README.md`) built into
//! `<target>/layers/<name>-<arch>.zip`, lamina's own `runtime` layer built from lamina's
//! source, and the `layers` list of a function resolved to what it names.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use lamina_layer_builder::{
    Architecture, Artifact, ArtifactKind, BuildOptions, Manifest, Mode, PipOptions, Spec,
    manifest_path,
};

use crate::compile::{Compiler, lamina_source};
use crate::pipeline::{self, Job, LayerSet, Packaged, layer_zip_path};
use crate::project::Project;

/// The name of lamina's own runtime layer.
pub const RUNTIME_LAYER: &str = "runtime";

/// What one entry of a function's `layers` (or a `layer` argument) names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayerRef {
    /// A folder holding a `layer.toml`, built here; named after the folder.
    Spec {
        /// The layer's name.
        name: String,
        /// The folder.
        dir: PathBuf,
    },
    /// lamina's runtime layer, built from lamina's source.
    Runtime,
    /// A layer zip made by any tool.
    Zip(PathBuf),
    /// A deployed layer: an ARN, `name:N`, or a name with no folder or zip here.
    Remote(String),
}

impl LayerRef {
    /// Reads `value` relative to `base` (the function's folder) in `project`: a path (has a
    /// `/` or is `.`) to a zip or a layer folder; an ARN; a layer of the project
    /// (`layers/NAME`); `runtime`; otherwise a deployed layer's name.
    pub fn parse(value: &str, base: &Path, project: &Project) -> anyhow::Result<LayerRef> {
        if value.starts_with("arn:") {
            return Ok(LayerRef::Remote(value.to_owned()));
        }
        let looks_like_path = value.contains('/') || value.ends_with(".zip") || value == ".";
        if looks_like_path {
            let path = base.join(value);
            if value.ends_with(".zip") {
                if !path.is_file() {
                    bail!("layer `{value}`: {} is not a file", path.display());
                }
                return Ok(LayerRef::Zip(path));
            }
            if !path.join("layer.toml").is_file() {
                bail!(
                    "layer `{value}`: {} has no layer.toml (a layer is a folder with a layer.toml, or a .zip)",
                    path.display()
                );
            }
            let dir = std::path::absolute(&path)
                .with_context(|| format!("resolving {}", path.display()))?;
            let name = dir
                .file_name()
                .and_then(|n| n.to_str())
                .with_context(|| format!("layer folder {} has no UTF-8 name", dir.display()))?
                .to_owned();
            return Ok(LayerRef::Spec { name, dir });
        }
        if let Some(dir) = project.layer_dir(value) {
            return Ok(LayerRef::Spec {
                name: value.to_owned(),
                dir,
            });
        }
        if value == RUNTIME_LAYER {
            return Ok(LayerRef::Runtime);
        }
        Ok(LayerRef::Remote(value.to_owned()))
    }
}

/// Builds layers for a project.
pub struct LayerBuilder<'a> {
    /// The project the layers belong to.
    pub project: &'a Project,
    /// Builds the project's `[[binary]]` entries.
    pub compiler: &'a Compiler,
    /// `SOURCE_DATE_EPOCH` and limits.
    pub options: &'a BuildOptions,
    /// Write, or compare with what is on disk.
    pub mode: Mode,
}

impl LayerBuilder<'_> {
    /// Builds the layer `layer` names for each of `archs` the layer is made for (a zip or
    /// a deployed layer is nothing to build: `None`).
    pub fn build(
        &self,
        layer: &LayerRef,
        archs: &[Architecture],
    ) -> anyhow::Result<Option<Vec<Packaged>>> {
        match layer {
            LayerRef::Spec { name, dir } => {
                // `[[copy]]` sources stay inside the project, or the layer's own folder
                // when it lives elsewhere.
                let root = if dir.starts_with(&self.project.root) {
                    &self.project.root
                } else {
                    dir
                };
                let mut build_binary =
                    |package: &str, bin: &str, arch| self.compiler.build_lambda(package, bin, arch);
                build_spec(
                    name,
                    dir,
                    root,
                    &self.project.target_dir,
                    archs,
                    self.options,
                    self.mode,
                    &mut build_binary,
                )
                .map(Some)
            }
            LayerRef::Runtime => {
                let source = lamina_source()?;
                // Built in lamina's own workspace, with its lockfile: the same bytes as the
                // release's zip of this version (paths are remapped, see Compiler).
                let compiler = Compiler {
                    root: source.clone(),
                    target_dir: self.project.target_dir.join("lamina-runtime-build"),
                    show_progress: self.compiler.show_progress,
                };
                let mut build_binary =
                    |package: &str, bin: &str, arch| compiler.build_lambda(package, bin, arch);
                build_spec(
                    RUNTIME_LAYER,
                    &source.join("layers").join(RUNTIME_LAYER),
                    &source,
                    &self.project.target_dir,
                    archs,
                    self.options,
                    self.mode,
                    &mut build_binary,
                )
                .map(Some)
            }
            LayerRef::Zip(_) | LayerRef::Remote(_) => Ok(None),
        }
    }

    /// The layers of a function, for `arch`: built when they are specs here, read when
    /// zips, named when they exist only on AWS.
    pub fn resolve(
        &self,
        values: &[String],
        base: &Path,
        arch: Architecture,
    ) -> anyhow::Result<LayerSet> {
        let mut set = LayerSet::default();
        set.usage.count = values.len();
        for value in values {
            let layer = LayerRef::parse(value, base, self.project)?;
            let zip = match &layer {
                LayerRef::Remote(name) => {
                    set.remote.push(name.clone());
                    continue;
                }
                LayerRef::Zip(zip) => zip.clone(),
                LayerRef::Spec { .. } | LayerRef::Runtime => {
                    let built = self
                        .build(&layer, &[arch])
                        .with_context(|| format!("building the layer `{value}`"))?
                        .unwrap_or_default();
                    match built.into_iter().next() {
                        Some(packaged) => packaged.built.zip_path,
                        None => bail!(
                            "layer `{value}` is not built for {arch}: its layer.toml leaves {arch} out"
                        ),
                    }
                }
            };
            let manifest = manifest_path(&zip);
            if manifest.is_file() {
                let manifest = Manifest::read(&manifest)?;
                // Sizes read from files: saturate rather than wrap (a hostile manifest).
                set.usage.unzipped_bytes = set
                    .usage
                    .unzipped_bytes
                    .saturating_add(manifest.unzipped_size);
                set.manifests.push((value.clone(), manifest));
            } else {
                set.usage.unzipped_bytes = set
                    .usage
                    .unzipped_bytes
                    .saturating_add(crate::check::unzipped_size(&zip)?);
            }
            set.zips.push(zip);
        }
        Ok(set)
    }
}

/// Builds the layer spec in `spec_dir` (its `layer.toml`) for each of `archs` it is made
/// for into `<target>/layers/<name>-<arch>.zip`. `[[copy]]` sources must stay inside
/// `root`; `build_binary` builds (package, bin) for an architecture.
#[allow(clippy::too_many_arguments)] // Each is a separate, necessary input; tests vary them.
pub fn build_spec(
    name: &str,
    spec_dir: &Path,
    root: &Path,
    target: &Path,
    archs: &[Architecture],
    options: &BuildOptions,
    mode: Mode,
    build_binary: &mut dyn FnMut(&str, &str, Architecture) -> anyhow::Result<PathBuf>,
) -> anyhow::Result<Vec<Packaged>> {
    let spec = Spec::load(&spec_dir.join("layer.toml"), ArtifactKind::Layer)?;
    let mut results = Vec::new();
    for arch in selected_architectures(archs, &spec.architectures, &format!("layer `{name}`"))? {
        let mut built = std::collections::BTreeMap::new();
        for (package, bin) in spec.binaries_needed() {
            let path = build_binary(&package, &bin, arch)?;
            built.insert((package, bin), path);
        }
        let mut tree = spec.assemble(spec_dir, root, &built)?;
        // Kept after the build: the zip is written from these files, and the next build
        // replaces them.
        let pip_dir = target.join("pip").join(format!("{name}-{}", arch.name()));
        let pip = spec
            .add_pip_into(&mut tree, spec_dir, root, arch, &PipOptions::new(pip_dir))
            .with_context(|| format!("layer `{name}` ({arch})"))?;
        let job = Job {
            artifact: Artifact {
                name: name.to_owned(),
                kind: ArtifactKind::Layer,
                architecture: arch,
                compatible_runtimes: spec.compatible_runtimes.clone(),
            },
            spec: &spec,
            zip: layer_zip_path(target, name, arch),
            layers: &LayerSet::default(),
        };
        let mut packaged = pipeline::finish(tree, &job, options, mode)?;
        packaged.pip = pip;
        results.push(packaged);
    }
    Ok(results)
}

/// The architectures to build: those asked for, which the spec must allow. Asking for one
/// architecture the spec leaves out is an error; asking for all builds what it allows.
pub fn selected_architectures(
    asked: &[Architecture],
    allowed: &[Architecture],
    what: &str,
) -> anyhow::Result<Vec<Architecture>> {
    let mut selected = Vec::new();
    for arch in asked {
        if allowed.contains(arch) {
            selected.push(*arch);
        } else if asked.len() == 1 {
            let names: Vec<&str> = allowed.iter().map(|a| a.name()).collect();
            bail!(
                "{what} is not built for {arch}: its `architectures` are [{}]; add {arch} there or pass --arch {}",
                names.join(", "),
                names.first().copied().unwrap_or("x86_64")
            );
        }
    }
    Ok(selected)
}

/// Folders of `layers_dir` holding a `layer.toml`, sorted.
pub fn layer_names(layers_dir: &Path) -> anyhow::Result<Vec<String>> {
    if !layers_dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut names = Vec::new();
    for entry in std::fs::read_dir(layers_dir)
        .with_context(|| format!("reading {}", layers_dir.display()))?
    {
        let path = entry?.path();
        if path.join("layer.toml").is_file()
            && let Some(name) = path.file_name().and_then(|n| n.to_str())
        {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}
