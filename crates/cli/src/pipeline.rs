//! The last steps every zip goes through, function or layer: the `[[elf]]` closure, the
//! files the layers already carry left out, the entry point and ELF checks, then the
//! byte-reproducible zip and its manifest (written, or compared with `--check`).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use lamina_layer_builder::{
    Architecture, Artifact, ArtifactKind, BuildOptions, Built, DedupReport, ElfBundle, ElfCheck,
    ElfTarget, EntryKind, FileMode, LayerUsage, Manifest, Mode, Node, PipInstall, Spec, Tree,
    build, check_tree, leave_out_layer_files,
};

/// The layers a function runs with, as far as they exist here.
#[derive(Debug, Default)]
pub struct LayerSet {
    /// For the limits: every layer counts; the known ones' unzipped sizes add up.
    pub usage: LayerUsage,
    /// Name and manifest of each layer with a manifest, in order (for leaving files out).
    pub manifests: Vec<(String, Manifest)>,
    /// The layers' zips, in order (their libraries count as found).
    pub zips: Vec<PathBuf>,
    /// Layers that exist only on AWS (names, ARNs): not seen by the checks.
    pub remote: Vec<String>,
}

/// One zip made, with what making it found out.
pub struct Packaged {
    /// The zip and manifest.
    pub built: Built,
    /// What `[[elf]]` bundled, when the spec has any.
    pub elf: Option<ElfBundle>,
    /// What each `[[pip]]` installed (layers).
    pub pip: Vec<PipInstall>,
    /// The files left out because the layers carry them.
    pub dedup: DedupReport,
    /// The ELF check (it passed: a failing one stops the build).
    pub check: ElfCheck,
    /// The zips of the layers it was checked with, in order.
    pub layer_zips: Vec<PathBuf>,
    /// Its layers that exist only on AWS (names, ARNs).
    pub remote_layers: Vec<String>,
}

impl Packaged {
    /// The `[[elf]]` closure, what was left out, and the check's summary line.
    pub fn report(&self) -> String {
        let label = format!(
            "{} ({})",
            self.built.manifest.artifact, self.built.manifest.architecture
        );
        let mut out = String::new();
        for install in &self.pip {
            out.push_str(&format!("{label}: {}", install.render()));
        }
        if let Some(bundle) = &self.elf {
            out.push_str(&format!("{label}: [[elf]] files\n{}", bundle.render(None)));
        }
        if !self.dedup.left_out.is_empty() {
            out.push_str(&self.dedup.render(&label));
        }
        out.push_str(&format!("{label}: {}", self.check.render()));
        out
    }
}

/// What to make: a tree of one artifact for one architecture.
pub struct Job<'a> {
    /// The artifact's name, kind and architecture.
    pub artifact: Artifact,
    /// Its spec (for `[[elf]]`).
    pub spec: &'a Spec,
    /// The zip to write.
    pub zip: PathBuf,
    /// The layers it runs with (functions only; empty for a layer).
    pub layers: &'a LayerSet,
}

/// Finishes `tree` into the job's zip; nothing is written unless every check passes.
pub fn finish(
    mut tree: Tree,
    job: &Job<'_>,
    options: &BuildOptions,
    mode: Mode,
) -> anyhow::Result<Packaged> {
    let arch = job.artifact.architecture;
    let kind = job.artifact.kind;
    let label = format!("{} `{}` ({arch})", kind_name(kind), job.artifact.name);
    let elf_target = ElfTarget::al2023(arch);
    let elf = job
        .spec
        .add_elf_into(&mut tree, kind, &elf_target)
        .with_context(|| label.clone())?;
    let dedup = leave_out_layer_files(&mut tree, &job.layers.manifests)?;
    if kind == ArtifactKind::Function {
        check_entry_point(&tree, job.layers, &label)?;
    }
    let mut check = check_tree(&tree, kind, &job.layers.zips, &elf_target)?;
    if !check.is_ok() && !job.layers.remote.is_empty() {
        check.problems.push(format!(
            "(layers {} exist only on AWS, so their libraries were not seen)",
            job.layers.remote.join(", ")
        ));
    }
    let check = check.into_result(&label)?;
    let options = BuildOptions {
        layers: job.layers.usage,
        ..*options
    };
    let built = match build(&tree, &job.artifact, &job.zip, &options, mode) {
        Err(error @ lamina_layer_builder::Error::FunctionWithLayersTooLarge { .. }) => {
            bail!(
                "{error}; largest entries: {}",
                largest_entries(&tree, &job.layers.manifests, 5)?
            )
        }
        other => other?,
    };
    Ok(Packaged {
        built,
        elf,
        pip: Vec::new(),
        dedup,
        check,
        layer_zips: job.layers.zips.clone(),
        remote_layers: job.layers.remote.clone(),
    })
}

fn kind_name(kind: ArtifactKind) -> &'static str {
    match kind {
        ArtifactKind::Function => "function",
        ArtifactKind::Layer => "layer",
    }
}

/// `<target>/lambda/<name>/<arch>/bootstrap.zip`: cargo-lambda's layout, so SAM and CDK
/// users can point at it.
pub fn function_zip_path(target: &Path, name: &str, arch: Architecture) -> PathBuf {
    target
        .join("lambda")
        .join(name)
        .join(arch.name())
        .join("bootstrap.zip")
}

/// `<target>/layers/<name>-<arch>.zip`.
pub fn layer_zip_path(target: &Path, name: &str, arch: Architecture) -> PathBuf {
    target
        .join("layers")
        .join(format!("{name}-{}.zip", arch.name()))
}

/// The `count` largest files of the function and its layers, with sizes, largest first.
fn largest_entries(
    tree: &Tree,
    layers: &[(String, Manifest)],
    count: usize,
) -> anyhow::Result<String> {
    let mut sizes: Vec<(u64, String)> = tree
        .plan()?
        .into_iter()
        .filter(|e| e.kind != EntryKind::Folder)
        .map(|e| (e.size, format!("/var/task/{}", e.name)))
        .collect();
    for (layer, manifest) in layers {
        sizes.extend(
            manifest
                .files
                .iter()
                .filter(|f| f.kind != EntryKind::Folder)
                .map(|f| (f.size, format!("/opt/{} (layer {layer})", f.path))),
        );
    }
    sizes.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    Ok(sizes
        .iter()
        .take(count)
        .map(|(size, path)| format!("{path} {size} bytes"))
        .collect::<Vec<_>>()
        .join(", "))
}

/// Lambda looks for `/var/task/bootstrap`, then `/opt/bootstrap`: without layers the
/// function's zip must hold an executable `bootstrap` at its root.
fn check_entry_point(tree: &Tree, layers: &LayerSet, label: &str) -> anyhow::Result<()> {
    match tree.get("bootstrap") {
        Some(Node::File { mode, .. }) if *mode == FileMode::Executable => Ok(()),
        Some(Node::File { .. }) => {
            bail!("{label}: `bootstrap` is not executable (mode 0644); chmod +x it")
        }
        Some(Node::Symlink { .. }) => Ok(()),
        Some(Node::Folder) => {
            bail!("{label}: `bootstrap` is a folder; Lambda needs an executable file")
        }
        None if layers.usage.count > 0 => Ok(()),
        None => bail!(
            "{label}: no `bootstrap` at the zip's root and no layers to provide /opt/bootstrap; \
             Lambda would fail with \"Couldn't find valid bootstrap(s)\" (add `layers = [\"runtime\"]` \
             to run a script through lamina's runtime layer)"
        ),
    }
}
