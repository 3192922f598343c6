//! `cargo xtask package <sample>`: cross-compile a sample and write its
//! byte-reproducible function zip, `target/lambda/<sample>/<arch>/bootstrap.zip`,
//! with a manifest beside it.
//!
//! A Rust sample (a folder with `Cargo.toml`) contributes its `bootstrap`
//! binary at the zip's root; a folder without `Cargo.toml` (scripts) is
//! packaged from its files. An optional `package.toml` adds to or replaces
//! that (format: `layers/README.md`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use lamina_layer_builder::{
    Architecture, Artifact, ArtifactKind, BuildOptions, Built, BuiltBinaries, DedupReport,
    ElfCheck, ElfTarget, EntryKind, LayerUsage, Limits, Manifest, Mode, Node, Row, SourceDateEpoch,
    Spec, Tree, build, check_tree, leave_out_layer_files, manifest_path, render_table,
};

use crate::compile::{build_lambda, target_dir, workspace_root};

#[derive(clap::Args)]
pub struct Args {
    /// The sample: a folder under `samples/`.
    sample: String,
    /// Which architecture(s) to build.
    #[arg(long, default_value = "all", value_parser = parse_arch_choice)]
    arch: ArchChoice,
    /// Rebuild and fail if any byte differs from the zip on disk.
    #[arg(long)]
    check: bool,
    /// Build the sample here and in a fresh clone of HEAD (another folder,
    /// umask and time) and fail unless both give the same zips.
    #[arg(long, conflicts_with = "check")]
    reproducibility: bool,
    /// The layers the function uses, in order (replaces package.toml's `layers`); files
    /// identical to what Lambda would find in them are left out of the zip.
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    layers: Option<Vec<String>>,
}

/// `--arch x86_64 | arm64 | all`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchChoice(pub Vec<Architecture>);

pub fn parse_arch_choice(value: &str) -> Result<ArchChoice, String> {
    match value {
        "all" => Ok(ArchChoice(Architecture::all())),
        other => Ok(ArchChoice(vec![other.parse()?])),
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.reproducibility {
        return reproducibility_check_of(&args.sample);
    }
    let mode = if args.check { Mode::Check } else { Mode::Write };
    let root = workspace_root();
    let packaged = package_sample_reporting(
        &root.join("samples").join(&args.sample),
        &root,
        &target_dir(),
        &args.arch.0,
        &options_from_env()?,
        mode,
        args.layers.as_deref(),
        &mut build_lambda,
    )?;
    for function in &packaged {
        print!("{}", function.report());
    }
    let built: Vec<Built> = packaged.into_iter().map(|p| p.built).collect();
    print_table(&built);
    Ok(())
}

/// One function zip with what packaging it found out.
pub struct PackagedFunction {
    /// The zip and manifest.
    pub built: Built,
    /// The files left out because its layers carry them (empty without built layers).
    pub dedup: DedupReport,
    /// The ELF check of the function with its built layers.
    pub check: ElfCheck,
}

impl PackagedFunction {
    /// What was left out (if anything) and the check's summary line.
    pub fn report(&self) -> String {
        let label = format!(
            "{} ({})",
            self.built.manifest.artifact, self.built.manifest.architecture
        );
        let mut out = String::new();
        if !self.dedup.left_out.is_empty() {
            out.push_str(&self.dedup.render(&label));
        }
        out.push_str(&format!("{label}: {}", self.check.render()));
        out
    }
}

/// Build options for the xtask: `SOURCE_DATE_EPOCH` from the environment
/// (a fixed default when unset) and Lambda's limits.
pub fn options_from_env() -> anyhow::Result<BuildOptions> {
    let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => SourceDateEpoch::parse(&value)?,
        Err(std::env::VarError::NotPresent) => SourceDateEpoch::DEFAULT,
        Err(std::env::VarError::NotUnicode(_)) => bail!("SOURCE_DATE_EPOCH is not UTF-8"),
    };
    Ok(BuildOptions {
        epoch,
        limits: Limits::LAMBDA,
        ..Default::default()
    })
}

/// Prints the artifact table to stdout.
pub fn print_table(built: &[Built]) {
    let rows: Vec<Row> = built.iter().map(Row::from).collect();
    print!("{}", render_table(&rows));
}

/// The architectures to build: those asked for, which the spec must allow.
pub fn selected_architectures(
    asked: &[Architecture],
    spec: &Spec,
    spec_name: &str,
) -> anyhow::Result<Vec<Architecture>> {
    let mut selected = Vec::new();
    for arch in asked {
        if spec.architectures.contains(arch) {
            selected.push(*arch);
        } else if asked.len() == 1 {
            bail!(
                "{spec_name} is not built for {arch}: its `architectures` are {:?}",
                names(&spec.architectures)
            );
        }
    }
    Ok(selected)
}

fn names(archs: &[Architecture]) -> Vec<&'static str> {
    archs.iter().map(|a| a.name()).collect()
}

/// Builds every `[[binary]]` of `spec` for `arch` with `build_binary`.
pub fn build_binaries(
    spec: &Spec,
    arch: Architecture,
    build_binary: &mut dyn FnMut(&str, &str, Architecture) -> anyhow::Result<PathBuf>,
) -> anyhow::Result<BuiltBinaries> {
    let mut built = BTreeMap::new();
    for (package, bin) in spec.binaries_needed() {
        let path = build_binary(&package, &bin, arch)?;
        built.insert((package, bin), path);
    }
    Ok(built)
}

/// Packages the sample in `sample_dir` for each of `archs` into
/// `<target>/lambda/<sample>/<arch>/bootstrap.zip`. `build_binary` builds
/// (package, bin) for an architecture and returns the executable.
pub fn package_sample(
    sample_dir: &Path,
    repo_root: &Path,
    target: &Path,
    archs: &[Architecture],
    options: &BuildOptions,
    mode: Mode,
    build_binary: &mut dyn FnMut(&str, &str, Architecture) -> anyhow::Result<PathBuf>,
) -> anyhow::Result<Vec<Built>> {
    let packaged = package_sample_reporting(
        sample_dir,
        repo_root,
        target,
        archs,
        options,
        mode,
        None,
        build_binary,
    )?;
    Ok(packaged
        .into_iter()
        .map(|function| {
            if !function.dedup.left_out.is_empty() {
                eprint!("{}", function.report());
            }
            function.built
        })
        .collect())
}

/// [`package_sample`], with the layers to use given (`None`: package.toml's), returning
/// what was left out because the layers carry it and the ELF check. Every ELF file of
/// the function must be for its architecture, need glibc <= 2.34 and find every library
/// it needs (in the image, the function or its built layers), or nothing is written.
#[allow(clippy::too_many_arguments)] // Each is a separate, necessary input; tests vary them.
pub fn package_sample_reporting(
    sample_dir: &Path,
    repo_root: &Path,
    target: &Path,
    archs: &[Architecture],
    options: &BuildOptions,
    mode: Mode,
    layers: Option<&[String]>,
    build_binary: &mut dyn FnMut(&str, &str, Architecture) -> anyhow::Result<PathBuf>,
) -> anyhow::Result<Vec<PackagedFunction>> {
    let name = sample_dir
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{} has no UTF-8 folder name", sample_dir.display()))?
        .to_owned();
    if !sample_dir.is_dir() {
        bail!(
            "no sample `{name}`: {} is not a folder; samples are: {}",
            sample_dir.display(),
            list_samples(sample_dir)
        );
    }
    let spec_path = sample_dir.join("package.toml");
    let has_spec = spec_path.is_file();
    let mut spec = if has_spec {
        Spec::load(&spec_path, ArtifactKind::Function)?
    } else {
        Spec::default()
    };
    if let Some(layers) = layers {
        spec.layers = layers.to_vec();
    }
    let rust_package = rust_package_of(sample_dir, repo_root)?;

    let mut results = Vec::new();
    for arch in selected_architectures(archs, &spec, &format!("sample `{name}`"))? {
        let mut tree = Tree::new();
        if let Some(package) = &rust_package {
            let exe = build_binary(package, "bootstrap", arch)?;
            tree.add_executable(
                "bootstrap",
                &exe,
                &format!("binary `bootstrap` of package `{package}`"),
            )?;
        } else if !has_spec {
            // Convention: a sample without Cargo.toml or package.toml is its files.
            tree.add_folder(".", sample_dir)?;
        }
        let built_binaries = build_binaries(&spec, arch, build_binary)?;
        spec.assemble_into(&mut tree, sample_dir, repo_root, &built_binaries)?;
        let elf_target = ElfTarget::al2023(arch);
        let label = format!("sample `{name}` ({arch})");
        spec.add_elf_into(&mut tree, ArtifactKind::Function, &elf_target)
            .with_context(|| label.clone())?;

        let built_layers = built_layers(&spec, target, arch, &name)?;
        let dedup = leave_out_layer_files(&mut tree, &built_layers.manifests)?;
        check_entry_point(&tree, &spec, &name)?;
        let mut check = check_tree(
            &tree,
            ArtifactKind::Function,
            &built_layers.zips,
            &elf_target,
        )?;
        if !check.is_ok() && !built_layers.missing.is_empty() {
            check.problems.push(format!(
                "(layers {} are not built, so their libraries were not seen: `cargo xtask layer {}`)",
                built_layers.missing.join(", "),
                built_layers.missing[0]
            ));
        }
        let check = check.into_result(&label)?;

        let artifact = Artifact {
            name: name.clone(),
            kind: ArtifactKind::Function,
            architecture: arch,
            compatible_runtimes: spec.compatible_runtimes.clone(),
        };
        let zip = target
            .join("lambda")
            .join(&name)
            .join(arch.name())
            .join("bootstrap.zip");
        let options = BuildOptions {
            layers: built_layers.usage,
            ..*options
        };
        let built = match build(&tree, &artifact, &zip, &options, mode) {
            Err(error @ lamina_layer_builder::Error::FunctionWithLayersTooLarge { .. }) => {
                bail!(
                    "{error}; largest entries: {}",
                    largest_entries(&tree, &built_layers.manifests, 5)?
                )
            }
            other => other?,
        };
        results.push(PackagedFunction {
            built,
            dedup,
            check,
        });
    }
    Ok(results)
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

/// Lambda looks for `/var/task/bootstrap`, then `/opt/bootstrap`: without
/// layers the function's zip must hold an executable `bootstrap` at its root.
fn check_entry_point(tree: &Tree, spec: &Spec, name: &str) -> anyhow::Result<()> {
    match tree.get("bootstrap") {
        Some(Node::File { mode, .. }) if *mode == lamina_layer_builder::FileMode::Executable => {
            Ok(())
        }
        Some(Node::File { .. }) => {
            bail!("sample `{name}`: `bootstrap` is not executable (mode 0644); chmod +x it")
        }
        Some(Node::Symlink { .. }) => Ok(()),
        Some(Node::Folder) => {
            bail!("sample `{name}`: `bootstrap` is a folder; Lambda needs an executable file")
        }
        None if !spec.layers.is_empty() => Ok(()),
        None => bail!(
            "sample `{name}`: no `bootstrap` at the zip's root and no layers to provide /opt/bootstrap; \
             Lambda would fail with \"Couldn't find valid bootstrap(s)\""
        ),
    }
}

/// The layers a function uses, as far as they are built.
struct BuiltLayers {
    /// For the limits: every layer counts; the built ones' unzipped sizes add up.
    usage: LayerUsage,
    /// Name and manifest of each built layer, in order.
    manifests: Vec<(String, Manifest)>,
    /// The built layers' zips, in order.
    zips: Vec<PathBuf>,
    /// Layers not built yet.
    missing: Vec<String>,
}

/// The layers `package.toml` names: all of them count toward the limits, and
/// those already built (`cargo xtask layer <name>`) are read; a layer not built
/// yet is named in a note.
fn built_layers(
    spec: &Spec,
    target: &Path,
    arch: Architecture,
    name: &str,
) -> anyhow::Result<BuiltLayers> {
    let mut layers = BuiltLayers {
        usage: LayerUsage {
            count: spec.layers.len(),
            unzipped_bytes: 0,
        },
        manifests: Vec::new(),
        zips: Vec::new(),
        missing: Vec::new(),
    };
    for layer in &spec.layers {
        let zip = layer_zip_path(target, layer, arch);
        let manifest = manifest_path(&zip);
        if manifest.is_file() {
            let manifest = Manifest::read(&manifest)?;
            layers.usage.unzipped_bytes += manifest.unzipped_size;
            layers.manifests.push((layer.clone(), manifest));
            if zip.is_file() {
                layers.zips.push(zip);
            }
        } else {
            layers.missing.push(layer.clone());
        }
    }
    if !layers.missing.is_empty() {
        eprintln!(
            "note: {name} ({arch}): unzipped size not checked with layer(s) {} (not built; `cargo xtask layer {}`)",
            layers.missing.join(", "),
            layers.missing[0]
        );
    }
    Ok(layers)
}

/// `<target>/layers/<name>-<arch>.zip`.
pub fn layer_zip_path(target: &Path, name: &str, arch: Architecture) -> PathBuf {
    target
        .join("layers")
        .join(format!("{name}-{}.zip", arch.name()))
}

/// The workspace package whose manifest is `sample_dir/Cargo.toml`, if any;
/// it must have a binary named `bootstrap`.
fn rust_package_of(sample_dir: &Path, repo_root: &Path) -> anyhow::Result<Option<String>> {
    let manifest = sample_dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Ok(None);
    }
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(repo_root.join("Cargo.toml"))
        .no_deps()
        .exec()
        .context("reading the workspace's metadata")?;
    let wanted = manifest
        .canonicalize()
        .with_context(|| format!("reading {}", manifest.display()))?;
    let package = metadata
        .workspace_packages()
        .into_iter()
        .find(|p| {
            p.manifest_path
                .as_std_path()
                .canonicalize()
                .is_ok_and(|m| m == wanted)
        })
        .with_context(|| format!("{} is not a member of the workspace", manifest.display()))?;
    if !package
        .targets
        .iter()
        .any(|t| t.is_bin() && t.name == "bootstrap")
    {
        bail!(
            "package `{}` has no binary named `bootstrap` (add a [[bin]] name = \"bootstrap\")",
            package.name
        );
    }
    Ok(Some(package.name.to_string()))
}

fn list_samples(sample_dir: &Path) -> String {
    let mut names: Vec<String> = sample_dir
        .parent()
        .and_then(|dir| std::fs::read_dir(dir).ok())
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    names.sort();
    if names.is_empty() {
        "(none)".into()
    } else {
        names.join(", ")
    }
}

/// Proves that `sample-hello`'s zips do not depend on where, when or by whom
/// they are built; see [`reproducibility_check_of`].
pub fn reproducibility_check() -> anyhow::Result<()> {
    reproducibility_check_of("sample-hello")
}

/// Packages `sample` twice and fails unless both give the same bytes for every
/// architecture: once in this checkout, then in a fresh clone of HEAD in another,
/// deeper folder, under umask 077, later. The clone's xtask is compiled into a
/// target dir shared between runs (it is not what is compared); the sample
/// itself is compiled from scratch in the clone's own target dir, so nothing of
/// the first build can leak into the second.
pub fn reproducibility_check_of(sample: &str) -> anyhow::Result<()> {
    let root = workspace_root();
    eprintln!("==> packaging {sample} in {}", root.display());
    package_sample(
        &root.join("samples").join(sample),
        &root,
        &target_dir(),
        &Architecture::all(),
        &options_from_env()?,
        Mode::Write,
        &mut build_lambda,
    )?;
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
    target
        .join("lambda")
        .join(sample)
        .join(arch.name())
        .join("bootstrap.zip")
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn no_binaries(package: &str, bin: &str, _: Architecture) -> anyhow::Result<PathBuf> {
        bail!("test builds no binaries (asked for {package}/{bin})")
    }

    fn write(path: &Path, content: &str, mode: u32) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn script_sample_is_packaged_from_its_files() {
        let repo = tempfile::tempdir().unwrap();
        let sample = repo.path().join("samples/sample-shell");
        write(&sample.join("bootstrap"), "#!/bin/sh\necho hi\n", 0o700);
        write(&sample.join("lib/util.sh"), "x=1\n", 0o600);
        let target = repo.path().join("target");
        let options = BuildOptions::default();
        let built = package_sample(
            &sample,
            repo.path(),
            &target,
            &Architecture::all(),
            &options,
            Mode::Write,
            &mut no_binaries,
        )
        .unwrap();
        assert_eq!(built.len(), 2);
        let names: Vec<&str> = built[0]
            .manifest
            .files
            .iter()
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(names, ["bootstrap", "lib/", "lib/util.sh"]);
        assert_eq!(built[0].manifest.files[0].mode, "0755");
        assert!(
            target
                .join("lambda/sample-shell/arm64/bootstrap.zip")
                .is_file()
        );
        assert!(
            target
                .join("lambda/sample-shell/x86_64/bootstrap.zip.manifest.json")
                .is_file()
        );
        // Scripts are the same bytes for both architectures.
        assert_eq!(built[0].manifest.zip_sha256, built[1].manifest.zip_sha256);

        let again = package_sample(
            &sample,
            repo.path(),
            &target,
            &Architecture::all(),
            &options,
            Mode::Check,
            &mut no_binaries,
        )
        .unwrap();
        assert!(
            again
                .iter()
                .all(|b| b.status == lamina_layer_builder::Status::Verified)
        );
    }

    #[test]
    fn package_toml_selects_files_and_needs_a_bootstrap() {
        let repo = tempfile::tempdir().unwrap();
        let sample = repo.path().join("samples/sample-py");
        write(
            &sample.join("handler.py"),
            "def handler(e, c): return e\n",
            0o644,
        );
        write(&sample.join("notes.md"), "not shipped\n", 0o644);
        write(
            &sample.join("package.toml"),
            "architectures = [\"arm64\"]\n[[copy]]\nfrom = \"handler.py\"\nto = \"handler.py\"\n",
            0o644,
        );
        let target = repo.path().join("target");
        let options = BuildOptions::default();
        let error = package_sample(
            &sample,
            repo.path(),
            &target,
            &[Architecture::Arm64],
            &options,
            Mode::Write,
            &mut no_binaries,
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("no `bootstrap` at the zip's root"),
            "{error}"
        );

        // With a layer named, the layer may provide /opt/bootstrap; only
        // what the spec names ships.
        write(
            &sample.join("package.toml"),
            "layers = [\"runtime\"]\n[[copy]]\nfrom = \"handler.py\"\nto = \"handler.py\"\n",
            0o644,
        );
        let arm = [Architecture::Arm64];
        let built = package_sample(
            &sample,
            repo.path(),
            &target,
            &arm,
            &options,
            Mode::Write,
            &mut no_binaries,
        )
        .unwrap();
        let names: Vec<&str> = built[0]
            .manifest
            .files
            .iter()
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(names, ["handler.py"]);

        // Once the layer is built, the function is checked together with it.
        let mut layer = built[0].manifest.clone();
        layer.artifact = "runtime".into();
        layer.kind = lamina_layer_builder::ArtifactKind::Layer;
        layer.unzipped_size = Limits::LAMBDA.max_unzipped_bytes;
        let layer_manifest =
            manifest_path(&layer_zip_path(&target, "runtime", Architecture::Arm64));
        fs::create_dir_all(layer_manifest.parent().unwrap()).unwrap();
        fs::write(&layer_manifest, layer.to_json()).unwrap();
        let error = package_sample(
            &sample,
            repo.path(),
            &target,
            &arm,
            &options,
            Mode::Write,
            &mut no_binaries,
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("over Lambda's limit of 262144000 bytes"),
            "{error}"
        );

        // Six layers are refused whether built or not.
        write(
            &sample.join("package.toml"),
            "layers = [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\"]\n[[copy]]\nfrom = \"handler.py\"\nto = \"handler.py\"\n",
            0o644,
        );
        let error = package_sample(
            &sample,
            repo.path(),
            &target,
            &arm,
            &options,
            Mode::Write,
            &mut no_binaries,
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "sample-py (arm64): uses 6 layers, Lambda allows at most 5"
        );
    }

    /// The packaged `bootstrap` of sample-hello, unzipped from its zip, answers
    /// an invoke under the emulator: natively on x86_64, under qemu-aarch64 on arm64.
    #[test]
    fn sample_hello_zip_answers_an_invoke_on_both_architectures() {
        use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};

        let qemu = Path::new("/usr/bin/qemu-aarch64");
        assert!(
            qemu.is_file(),
            "qemu-aarch64 is needed to run the arm64 build: apt-get install -y qemu-user"
        );
        let root = workspace_root();
        let out = tempfile::tempdir().unwrap();
        let built = package_sample(
            &root.join("samples/sample-hello"),
            &root,
            out.path(),
            &Architecture::all(),
            &BuildOptions::default(),
            Mode::Write,
            &mut build_lambda,
        )
        .unwrap();
        for built in &built {
            let arch = built.manifest.architecture;
            let task_root = out.path().join(format!("task-{arch}"));
            let unzip = Command::new("unzip")
                .arg("-q")
                .arg(&built.zip_path)
                .arg("-d")
                .arg(&task_root)
                .status()
                .unwrap();
            assert!(unzip.success());
            let bootstrap = task_root.join("bootstrap");
            // No path of the build machine is in the binary (`strings | grep`, in Rust).
            let bytes = fs::read(&bootstrap).unwrap();
            let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
            for machine_path in [
                root.display().to_string(),
                format!("{home}/.cargo"),
                format!("{home}/.rustup"),
            ] {
                let found = bytes
                    .windows(machine_path.len())
                    .any(|w| w == machine_path.as_bytes());
                assert!(
                    !found,
                    "{arch}: the binary contains the build machine's path {machine_path}"
                );
            }
            let mut function = match arch {
                Architecture::X86_64 => FunctionConfig::new("sample-hello", &bootstrap),
                Architecture::Arm64 => {
                    let mut f = FunctionConfig::new("sample-hello", qemu);
                    f.args = vec![bootstrap.display().to_string()];
                    f
                }
            };
            function.task_root = task_root.clone();
            function.timeout = std::time::Duration::from_secs(30); // safety bound, not a speed test
            let emulator = Emulator::start(EmulatorConfig::new(vec![function])).unwrap();
            let mut response = ureq::post(&emulator.invoke_url("sample-hello"))
                .send(r#"{"name":"lamina"}"#)
                .unwrap();
            let body = response.body_mut().read_to_string().unwrap();
            assert_eq!(response.status(), 200, "{arch}: {body}");
            assert!(
                response.headers().get("X-Amz-Function-Error").is_none(),
                "{arch}: {body}"
            );
            assert_eq!(
                body,
                r#"{"message":"Hello, lamina!"}"#,
                "{arch}; logs:\n{}",
                emulator.logs("sample-hello")
            );
            emulator.shutdown();
        }
    }

    /// `--layers tools`: the function's copy of a library the layer carries at /opt/lib is
    /// left out and reported; over the unzipped limit, the error names the largest entries.
    #[test]
    fn files_the_layers_carry_are_left_out_and_the_limit_names_the_largest() {
        let repo = tempfile::tempdir().unwrap();
        let library = "not really ELF, same bytes in both\n";
        write(
            &repo.path().join("layers/tools/files/lib/libfoo.so.1"),
            library,
            0o644,
        );
        write(
            &repo.path().join("layers/tools/layer.toml"),
            "[[copy]]\nfrom = \"files/lib\"\nto = \"lib\"\n",
            0o644,
        );
        let sample = repo.path().join("samples/sample-lib");
        write(&sample.join("handler.sh"), "#!/bin/sh\ncat\n", 0o755);
        write(&sample.join("lib/libfoo.so.1"), library, 0o644);
        write(
            &sample.join("package.toml"),
            "[[copy]]\nfrom = \"handler.sh\"\nto = \"handler.sh\"\n\
             [[copy]]\nfrom = \"lib\"\nto = \"lib\"\n",
            0o644,
        );
        let target = repo.path().join("target");
        let x86 = [Architecture::X86_64];
        crate::layer::build_layers(
            &repo.path().join("layers"),
            repo.path(),
            &target,
            Some("tools"),
            &x86,
            &BuildOptions::default(),
            Mode::Write,
            &mut no_binaries,
        )
        .unwrap();
        let layers = ["tools".to_owned()];
        let packaged = package_sample_reporting(
            &sample,
            repo.path(),
            &target,
            &x86,
            &BuildOptions::default(),
            Mode::Write,
            Some(&layers),
            &mut no_binaries,
        )
        .unwrap();
        let function = &packaged[0];
        assert_eq!(
            function.dedup.render("sample-lib (x86_64)"),
            "sample-lib (x86_64): left out 1 file(s), 35 bytes, that its layers carry \
             (unzipped 49 -> 14 bytes)\n  lib/libfoo.so.1          35 bytes  = \
             /opt/lib/libfoo.so.1 (layer tools)\n"
        );
        let names: Vec<&str> = function
            .built
            .manifest
            .files
            .iter()
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(names, ["handler.sh"]);
        assert!(function.report().contains("0 ELF file(s) checked"));

        let tight = BuildOptions {
            limits: Limits {
                max_unzipped_bytes: 40,
                ..Limits::LAMBDA
            },
            ..BuildOptions::default()
        };
        let error = package_sample_reporting(
            &sample,
            repo.path(),
            &target,
            &x86,
            &tight,
            Mode::Write,
            Some(&layers),
            &mut no_binaries,
        )
        .err()
        .unwrap();
        assert_eq!(
            error.to_string(),
            "sample-lib (x86_64): function and its 1 layers unzip to 49 bytes, over Lambda's \
             limit of 40 bytes; largest entries: /opt/lib/libfoo.so.1 (layer tools) 35 bytes, \
             /var/task/handler.sh 14 bytes"
        );
    }

    #[test]
    fn arch_choice_parses() {
        assert_eq!(parse_arch_choice("all").unwrap().0, Architecture::all());
        assert_eq!(parse_arch_choice("arm64").unwrap().0, [Architecture::Arm64]);
        assert!(parse_arch_choice("aarch64").is_err());
    }
}
