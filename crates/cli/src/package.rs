//! A function's byte-reproducible zip, `<target>/lambda/<name>/<arch>/bootstrap.zip`, with
//! its manifest beside it: a Rust function's binary as `bootstrap` (whatever its name in the
//! package, as cargo-lambda does), or a script function's files, plus what its spec adds.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use lamina_layer_builder::{
    Architecture, Artifact, ArtifactKind, BuildOptions, Built, Mode, Row, SourceDateEpoch, Tree,
    render_table,
};

use crate::compile::Compiler;
use crate::layer::{LayerBuilder, selected_architectures};
use crate::pipeline::{self, Job, Packaged, function_zip_path};
use crate::project::{Function, Project};
use crate::spec::SPEC_FILE;

/// Files of a script function's folder that are never shipped: its spec, build output and
/// hidden files (`.git`, editor state).
fn shipped(name: &str) -> bool {
    name != SPEC_FILE && name != "target" && !name.starts_with('.')
}

/// Packages `function` for each of `archs` its spec allows.
pub fn package_function(
    project: &Project,
    function: &Function,
    compiler: &Compiler,
    archs: &[Architecture],
    options: &BuildOptions,
    mode: Mode,
) -> anyhow::Result<Vec<Packaged>> {
    let what = format!(
        "function `{}` ({})",
        function.name,
        function.spec.path.display()
    );
    let layers = LayerBuilder {
        project,
        compiler,
        options,
        mode: Mode::Write,
    };
    let mut results = Vec::new();
    for arch in selected_architectures(archs, &function.spec.architectures, &what)? {
        let mut tree = Tree::new();
        if let Some(rust) = &function.rust {
            let exe = compiler.build_lambda(&rust.package, &rust.bin, arch)?;
            tree.add_executable(
                "bootstrap",
                &exe,
                &format!("binary `{}` of package `{}`", rust.bin, rust.package),
            )?;
        } else if spec_adds_nothing(function) {
            add_folder_files(&mut tree, &function.dir, &project.root)?;
        }
        function.spec.tree.assemble_into(
            &mut tree,
            &function.dir,
            &project.root,
            &Default::default(),
        )?;
        let layer_set = layers.resolve(&function.spec.layers, &function.dir, arch)?;
        let job = Job {
            artifact: Artifact {
                name: function.name.clone(),
                kind: ArtifactKind::Function,
                architecture: arch,
                compatible_runtimes: vec![function.spec.runtime.clone()],
            },
            spec: &function.spec.tree,
            zip: function_zip_path(&project.target_dir, &function.name, arch),
            layers: &layer_set,
        };
        results.push(pipeline::finish(tree, &job, options, mode)?);
    }
    Ok(results)
}

/// A script function whose spec names no files ships its folder.
fn spec_adds_nothing(function: &Function) -> bool {
    let tree = &function.spec.tree;
    tree.copy.is_empty() && tree.generated.is_empty() && tree.symlink.is_empty()
}

/// The files of a script function's folder, each checked: a symlink never brings in a file
/// from outside the project (`root`), see [`Tree::add_entry_within`].
fn add_folder_files(tree: &mut Tree, dir: &Path, root: &Path) -> anyhow::Result<()> {
    let mut entries: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().map(|n| (n.to_owned(), e.path())))
        .filter(|(name, _)| shipped(name))
        .collect();
    entries.sort();
    if entries.is_empty() {
        bail!(
            "{}: the function's folder has no files to ship besides its {SPEC_FILE}",
            dir.display()
        );
    }
    for (name, path) in entries {
        tree.add_entry_within(&name, &path, dir, root)?;
    }
    Ok(())
}

/// Build options from the environment: `SOURCE_DATE_EPOCH` (a fixed default when unset)
/// and Lambda's limits.
pub fn options_from_env() -> anyhow::Result<BuildOptions> {
    let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => SourceDateEpoch::parse(&value)?,
        Err(std::env::VarError::NotPresent) => SourceDateEpoch::DEFAULT,
        Err(std::env::VarError::NotUnicode(_)) => bail!("SOURCE_DATE_EPOCH is not UTF-8"),
    };
    Ok(BuildOptions {
        epoch,
        limits: lamina_layer_builder::Limits::LAMBDA,
        ..Default::default()
    })
}

/// The artifact table: name, architecture, status, sizes, sha256.
pub fn table(built: &[&Built]) -> String {
    let rows: Vec<Row> = built.iter().map(|b| Row::from(*b)).collect();
    render_table(&rows)
}
