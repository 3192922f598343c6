//! `cargo xtask layer [<name>]`: build every layer spec `layers/<name>/layer.toml`
//! (format: `layers/README.md`) into `target/layers/<name>-<arch>.zip` with a
//! manifest beside it.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use lamina_layer_builder::{
    Architecture, Artifact, ArtifactKind, BuildOptions, Built, ElfBundle, ElfCheck, ElfTarget,
    Mode, Spec, build, check_tree,
};

use crate::compile::{build_lambda, target_dir, workspace_root};
use crate::package::{
    ArchChoice, build_binaries, layer_zip_path, options_from_env, parse_arch_choice, print_table,
    selected_architectures,
};

#[derive(clap::Args)]
pub struct Args {
    /// The layer (a folder under `layers/`); every layer when left out.
    name: Option<String>,
    /// Which architecture(s) to build.
    #[arg(long, default_value = "all", value_parser = parse_arch_choice)]
    arch: ArchChoice,
    /// Rebuild and fail if any byte differs from the zips on disk.
    #[arg(long)]
    check: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mode = if args.check { Mode::Check } else { Mode::Write };
    let root = workspace_root();
    let layers = build_layers_reporting(
        &root.join("layers"),
        &root,
        &target_dir(),
        args.name.as_deref(),
        &args.arch.0,
        &options_from_env()?,
        mode,
        &mut build_lambda,
    )?;
    if layers.is_empty() {
        println!("no layer specs under layers/ (layers/<name>/layer.toml)");
        return Ok(());
    }
    for layer in &layers {
        print!("{}", layer.report());
    }
    let built: Vec<Built> = layers.into_iter().map(|layer| layer.built).collect();
    print_table(&built);
    Ok(())
}

/// Builds the layer `only` (or every layer) found as `<layers_dir>/<name>/layer.toml`
/// into `<target>/layers/<name>-<arch>.zip`. `build_binary` builds
/// (package, bin) for an architecture and returns the executable.
#[allow(clippy::too_many_arguments)] // Each is a separate, necessary input; tests vary them.
pub fn build_layers(
    layers_dir: &Path,
    repo_root: &Path,
    target: &Path,
    only: Option<&str>,
    archs: &[Architecture],
    options: &BuildOptions,
    mode: Mode,
    build_binary: &mut dyn FnMut(&str, &str, Architecture) -> anyhow::Result<PathBuf>,
) -> anyhow::Result<Vec<Built>> {
    Ok(build_layers_reporting(
        layers_dir,
        repo_root,
        target,
        only,
        archs,
        options,
        mode,
        build_binary,
    )?
    .into_iter()
    .map(|layer| layer.built)
    .collect())
}

/// One layer built for one architecture, with what its ELF files needed.
pub struct BuiltLayer {
    /// The zip and manifest.
    pub built: Built,
    /// What `[[elf]]` bundled, when the spec has any.
    pub elf: Option<ElfBundle>,
    /// The ELF check of the whole layer (it passed: a failing one stops the build).
    pub check: ElfCheck,
}

impl BuiltLayer {
    /// The `[[elf]]` closure report (if any) and the check's summary line.
    pub fn report(&self) -> String {
        let label = format!(
            "{} ({})",
            self.built.manifest.artifact, self.built.manifest.architecture
        );
        let mut out = String::new();
        if let Some(bundle) = &self.elf {
            out.push_str(&format!("{label}: [[elf]] files\n{}", bundle.render(None)));
        }
        out.push_str(&format!("{label}: {}", self.check.render()));
        out
    }
}

/// [`build_layers`], also returning each layer's `[[elf]]` closure and ELF check.
/// Every ELF file of a layer must be for its architecture, need glibc <= 2.34 and find
/// every library it needs, or nothing is written.
#[allow(clippy::too_many_arguments)] // Each is a separate, necessary input; tests vary them.
pub fn build_layers_reporting(
    layers_dir: &Path,
    repo_root: &Path,
    target: &Path,
    only: Option<&str>,
    archs: &[Architecture],
    options: &BuildOptions,
    mode: Mode,
    build_binary: &mut dyn FnMut(&str, &str, Architecture) -> anyhow::Result<PathBuf>,
) -> anyhow::Result<Vec<BuiltLayer>> {
    let available = layer_names(layers_dir)?;
    let names = match only {
        Some(name) if available.iter().any(|n| n == name) => vec![name.to_owned()],
        Some(name) => bail!(
            "no layer `{name}`: {} does not exist; layers are: {}",
            layers_dir.join(name).join("layer.toml").display(),
            if available.is_empty() {
                "(none)".into()
            } else {
                available.join(", ")
            }
        ),
        None => available,
    };
    let mut results = Vec::new();
    for name in names {
        let spec_dir = layers_dir.join(&name);
        let spec = Spec::load(&spec_dir.join("layer.toml"), ArtifactKind::Layer)?;
        for arch in selected_architectures(archs, &spec, &format!("layer `{name}`"))? {
            let binaries = build_binaries(&spec, arch, build_binary)?;
            let mut tree = spec.assemble(&spec_dir, repo_root, &binaries)?;
            let elf_target = ElfTarget::al2023(arch);
            let label = format!("layer `{name}` ({arch})");
            let elf = spec
                .add_elf_into(&mut tree, ArtifactKind::Layer, &elf_target)
                .with_context(|| label.clone())?;
            let check =
                check_tree(&tree, ArtifactKind::Layer, &[], &elf_target)?.into_result(&label)?;
            let artifact = Artifact {
                name: name.clone(),
                kind: ArtifactKind::Layer,
                architecture: arch,
                compatible_runtimes: spec.compatible_runtimes.clone(),
            };
            let built = build(
                &tree,
                &artifact,
                &layer_zip_path(target, &name, arch),
                options,
                mode,
            )?;
            results.push(BuiltLayer { built, elf, check });
        }
    }
    Ok(results)
}

/// Folders of `layers_dir` holding a `layer.toml`, sorted.
fn layer_names(layers_dir: &Path) -> anyhow::Result<Vec<String>> {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
mod tests {
    use std::fs;

    use lamina_layer_builder::Status;

    use crate::compile::build_lambda;

    use super::*;

    fn fake_binary(
        dir: &Path,
    ) -> impl FnMut(&str, &str, Architecture) -> anyhow::Result<PathBuf> + '_ {
        move |package, bin, arch| {
            // A stand-in executable whose bytes differ per architecture, as real ones do.
            let path = dir.join(format!("{package}-{bin}-{arch}"));
            fs::write(&path, format!("binary {bin} of {package} for {arch}\n"))?;
            Ok(path)
        }
    }

    #[test]
    fn builds_each_layer_per_architecture_then_reports_unchanged() {
        let repo = tempfile::tempdir().unwrap();
        let layers = repo.path().join("layers");
        fs::create_dir_all(layers.join("tools/files/bin")).unwrap();
        fs::write(
            layers.join("tools/files/bin/hello.sh"),
            "#!/bin/sh\necho hello\n",
        )
        .unwrap();
        fs::write(
            layers.join("tools/layer.toml"),
            r#"
description = "test layer"
[[copy]]
from = "files/bin"
to = "bin"
[[binary]]
package = "lamina-bootstrap"
bin = "bootstrap"
to = "bootstrap"
[[generated]]
to = "etc/tools.conf"
content = "verbose = false\n"
"#,
        )
        .unwrap();
        fs::create_dir_all(layers.join("only-arm/data")).unwrap();
        fs::write(layers.join("only-arm/data/readme.txt"), "arm only\n").unwrap();
        fs::write(
            layers.join("only-arm/layer.toml"),
            "architectures = [\"arm64\"]\n[[copy]]\nfrom = \"data\"\nto = \".\"\n",
        )
        .unwrap();
        fs::create_dir_all(layers.join("not-a-layer")).unwrap();

        let target = repo.path().join("target");
        let bins = tempfile::tempdir().unwrap();
        let options = BuildOptions::default();
        let all = Architecture::all();
        let built = build_layers(
            &layers,
            repo.path(),
            &target,
            None,
            &all,
            &options,
            Mode::Write,
            &mut fake_binary(bins.path()),
        )
        .unwrap();
        let produced: Vec<String> = built
            .iter()
            .map(|b| {
                b.zip_path
                    .strip_prefix(&target)
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(
            produced,
            [
                "layers/only-arm-arm64.zip",
                "layers/tools-x86_64.zip",
                "layers/tools-arm64.zip"
            ]
        );
        let tools = &built[1].manifest;
        let entries: Vec<(&str, &str)> = tools
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.mode.as_str()))
            .collect();
        assert_eq!(
            entries,
            [
                ("bin/", "0755"),
                ("bin/hello.sh", "0644"),
                ("bootstrap", "0755"),
                ("etc/", "0755"),
                ("etc/tools.conf", "0644")
            ]
        );
        assert_ne!(
            built[1].manifest.zip_sha256, built[2].manifest.zip_sha256,
            "per-architecture binaries"
        );

        let again = build_layers(
            &layers,
            repo.path(),
            &target,
            Some("tools"),
            &all,
            &options,
            Mode::Write,
            &mut fake_binary(bins.path()),
        )
        .unwrap();
        assert!(again.iter().all(|b| b.status == Status::Unchanged));
        let checked = build_layers(
            &layers,
            repo.path(),
            &target,
            None,
            &all,
            &options,
            Mode::Check,
            &mut fake_binary(bins.path()),
        )
        .unwrap();
        assert!(checked.iter().all(|b| b.status == Status::Verified));

        let error = build_layers(
            &layers,
            repo.path(),
            &target,
            Some("nope"),
            &all,
            &options,
            Mode::Write,
            &mut fake_binary(bins.path()),
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("layers are: only-arm, tools"),
            "{error}"
        );
        let error = build_layers(
            &layers,
            repo.path(),
            &target,
            Some("only-arm"),
            &[Architecture::X86_64],
            &options,
            Mode::Write,
            &mut fake_binary(bins.path()),
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("not built for x86_64"),
            "{error}"
        );
    }

    /// The real sample: Debian's xmlstarlet in its layer, run by sample-xmlstarlet's
    /// handler through the runtime layer in the emulator, with the function at /var/task
    /// and both layers at /opt. The loader's own log (LD_DEBUG=libs) proves the libraries
    /// provided.al2023 lacks are loaded from /opt/lib.
    #[test]
    fn xmlstarlet_loads_its_libraries_from_opt_lib_in_the_emulator() {
        use lamina_emulator::layout::{FunctionLayout, namespaces_available};
        use lamina_emulator::{Emulator, EmulatorConfig};

        assert!(
            Path::new("/usr/bin/xmlstarlet").is_file(),
            "the xmlstarlet layer is built from Debian's package: apt-get install -y xmlstarlet"
        );
        assert!(
            namespaces_available(),
            "the proof needs /opt as Lambda shows it: user and mount namespaces"
        );
        let root = crate::compile::workspace_root();
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("target");
        let x86 = [Architecture::X86_64];
        let mut zips = Vec::new();
        for name in ["runtime", "xmlstarlet"] {
            let built = build_layers_reporting(
                &root.join("layers"),
                &root,
                &target,
                Some(name),
                &x86,
                &BuildOptions::default(),
                Mode::Write,
                &mut build_lambda,
            )
            .unwrap();
            zips.push(built[0].built.zip_path.clone());
        }
        let packaged = crate::package::package_sample_reporting(
            &root.join("samples/sample-xmlstarlet"),
            &root,
            &target,
            &x86,
            &BuildOptions::default(),
            Mode::Write,
            None,
            &mut build_lambda,
        )
        .unwrap();
        assert!(packaged[0].check.is_ok(), "{}", packaged[0].check.render());

        let layout =
            FunctionLayout::unpack(&packaged[0].built.zip_path, &zips, &out.path().join("run"))
                .unwrap();
        let mut function = layout.function_config("sample-xmlstarlet", true).unwrap();
        function.handler = "handler.sh".into();
        function.env.push(("LD_DEBUG".into(), "libs".into()));
        function.timeout = std::time::Duration::from_secs(30); // safety bound, not a speed test
        let emulator = Emulator::start(EmulatorConfig::new(vec![function])).unwrap();
        let invoked = emulator
            .invoke(
                "sample-xmlstarlet",
                br#"{"xpath":"//book[@year<1980]/@id"}"#,
            )
            .unwrap();
        let logs = emulator.logs("sample-xmlstarlet");
        emulator.shutdown();
        assert_eq!(
            String::from_utf8_lossy(&invoked.payload),
            r#"{"xpath":"//book[@year<1980]/@id","result":"b1 b3"}"#,
            "logs:\n{logs}"
        );
        assert!(logs.contains("evaluating //book[@year<1980]/@id with /opt/bin/xmlstarlet"));
        for library in [
            "libxslt.so.1",
            "libexslt.so.0",
            "libgcrypt.so.20",
            "libgpg-error.so.0",
        ] {
            assert!(
                logs.contains(&format!("calling init: /opt/lib/{library}")),
                "{library} was not loaded from /opt/lib; logs:\n{logs}"
            );
        }
        // libxml2 is the image's (on this machine: the host's), never a layer copy.
        assert!(!logs.contains("calling init: /opt/lib/libxml2"), "{logs}");
        assert!(
            logs.contains("calling init: /lib/x86_64-linux-gnu/libxml2.so.2"),
            "{logs}"
        );
    }
}
