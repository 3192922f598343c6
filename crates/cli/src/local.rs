//! Setting up the local Lambda for `invoke` and `serve`: a function packaged for this
//! machine (or for arm64 under qemu-aarch64), unpacked with its layers as Lambda lays it out,
//! with its spec's settings; or any zip or executable from another tool.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use lamina_emulator::layout::{FunctionLayout, namespaces_available};
use lamina_emulator::{FunctionConfig, View};
use lamina_layer_builder::{Architecture, BuildOptions, Mode};

use crate::compile::{Compiler, host_architecture};
use crate::layer::LayerBuilder;
use crate::package::{options_from_env, package_function};
use crate::project::{Function, Project, Selection};

/// Settings given on the command line; each overrides the spec's.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// Timeout in seconds.
    pub timeout_s: Option<f64>,
    /// Memory in MB.
    pub memory_mb: Option<u32>,
    /// Extra environment, after the spec's.
    pub env: Vec<(String, String)>,
    /// `_HANDLER`.
    pub handler: Option<String>,
    /// Layers instead of the spec's.
    pub layers: Option<Vec<String>>,
    /// Architecture to run [default: this machine's when the spec allows it].
    pub arch: Option<Architecture>,
    /// Show the function the host's whole file system instead of the AL2023 view.
    pub host_view: bool,
    /// `/tmp` size in MB [default: the spec's, else 512].
    pub ephemeral_storage_mb: Option<u32>,
}

/// The folder every function of one run is unpacked in: unique to this process, removed
/// when dropped, so two runs never share or empty each other's `/var/task`.
pub struct RunFolder {
    dir: tempfile::TempDir,
}

impl RunFolder {
    /// A new folder under `<target>/lamina-emulator/`.
    pub fn new(target_dir: &Path) -> anyhow::Result<RunFolder> {
        let parent = target_dir.join("lamina-emulator");
        std::fs::create_dir_all(&parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        let dir = tempfile::Builder::new()
            .prefix("run-")
            .tempdir_in(&parent)
            .with_context(|| format!("creating a folder in {}", parent.display()))?;
        Ok(RunFolder { dir })
    }

    /// Where function `name` is unpacked.
    pub fn function_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A host program (qemu) made reachable from inside the AL2023 view, which hides the
    /// host's PATH folders: linked (or copied) into this run's folder once.
    pub fn tool(&self, program: &Path) -> anyhow::Result<PathBuf> {
        let name = program.file_name().context("a program has a file name")?;
        let dest = self.dir.path().join("tools").join(name);
        if !dest.is_file() {
            std::fs::create_dir_all(self.dir.path().join("tools"))?;
            if std::fs::hard_link(program, &dest).is_err() {
                std::fs::copy(program, &dest)
                    .with_context(|| format!("copying {} for the run", program.display()))?;
            }
        }
        Ok(dest)
    }
}

/// `--host-view` trades fidelity for convenience: say so every time.
pub fn warn_host_view(overrides: &Overrides) {
    if overrides.host_view {
        eprintln!(
            "warning: --host-view: the function sees this machine's programs (python3, perl, ...) \
             that provided.al2023 does not have; what works now may fail on Lambda"
        );
    }
}

/// An executable run as the function, as it is (`--bootstrap`), named after its file.
pub fn bootstrap_function(
    bootstrap: &Path,
    overrides: &Overrides,
) -> anyhow::Result<FunctionConfig> {
    let path = std::path::absolute(bootstrap)?;
    if !path.is_file() {
        bail!("--bootstrap {}: no such file", path.display());
    }
    if let Some(refused) = refused_with_bootstrap(overrides) {
        bail!("{refused}");
    }
    let mut config = FunctionConfig::new(function_name_from(&path), path);
    apply(&mut config, overrides)?;
    Ok(config)
}

/// The flag `--bootstrap` cannot honour, if one is given, and why: the executable runs as it
/// is, on this machine, from where it lies, so there is no zip to lay out with layers, no
/// other architecture to pick and no `/tmp` of its own to size.
pub fn refused_with_bootstrap(overrides: &Overrides) -> Option<String> {
    let as_it_is = "--bootstrap runs the executable as it is, on this machine, outside \
                    /var/task and /opt";
    if overrides.layers.is_some() {
        return Some(format!(
            "--layer: {as_it_is}; to run with layers, give a function of the project or --zip"
        ));
    }
    if let Some(arch) = overrides.arch {
        return Some(format!(
            "--arch {arch}: {as_it_is}; to run another architecture, give a function of the project or --zip"
        ));
    }
    if overrides.ephemeral_storage_mb.is_some() {
        return Some(format!(
            "--ephemeral-storage: {as_it_is}, with this machine's /tmp; to size /tmp, give a function of the project or --zip"
        ));
    }
    None
}

/// A function zip from any tool (`--zip`), with layer zips or lamina layers, unpacked in a
/// new [`RunFolder`] of the project's (or the current folder's) target folder.
pub fn zip_function(
    zip: &Path,
    layers: &[String],
    overrides: &Overrides,
) -> anyhow::Result<(FunctionConfig, RunFolder)> {
    if !zip.is_file() {
        bail!("--zip {}: no such file", zip.display());
    }
    let project = Project::discover(&Selection::default())?;
    // An arm64 zip runs under qemu on x86_64: its architecture is its bootstrap's.
    let arch = match overrides.arch {
        Some(arch) => arch,
        None => match crate::check::zip_architecture(zip)? {
            Some(arch) => arch,
            None => host_architecture()?,
        },
    };
    let compiler = Compiler::for_project(&project);
    let options = options_from_env()?;
    let builder = LayerBuilder {
        project: &project,
        compiler: &compiler,
        options: &options,
        mode: Mode::Write,
    };
    let base = std::env::current_dir()?;
    let set = builder.resolve(layers, &base, arch)?;
    if let Some(remote) = set.remote.first() {
        bail!("--layer {remote}: not a zip, a layer folder or lamina's `runtime`");
    }
    let run = RunFolder::new(&project.target_dir)?;
    let mut config = from_zip(
        &function_name_from(zip),
        zip,
        &set.zips,
        &run,
        arch,
        overrides,
    )?;
    apply(&mut config, overrides)?;
    Ok((config, run))
}

/// The emulator's configuration for a function of the project: packaged as it would be
/// shipped, unpacked with its layers at `/var/task` and `/opt`.
pub fn project_function(
    project: &Project,
    function: &Function,
    compiler: &Compiler,
    options: &BuildOptions,
    overrides: &Overrides,
    run: &RunFolder,
) -> anyhow::Result<FunctionConfig> {
    let arch = choose_architecture(function, overrides.arch)?;
    let mut function = function.clone();
    if let Some(layers) = &overrides.layers {
        function.spec.layers = layers.clone();
    }
    let packaged = package_function(project, &function, compiler, &[arch], options, Mode::Write)?;
    let packaged = packaged
        .first()
        .with_context(|| format!("function `{}` is not built for {arch}", function.name))?;
    if let Some(remote) = packaged.remote_layers.first() {
        bail!(
            "function `{}`: layer `{remote}` exists only on AWS, so it cannot run here; \
             list a layer folder or zip in {} instead (or pass --layer)",
            function.name,
            function.spec.path.display()
        );
    }
    let overrides = Overrides {
        ephemeral_storage_mb: overrides
            .ephemeral_storage_mb
            .or(Some(function.spec.ephemeral_storage_mb)),
        ..overrides.clone()
    };
    let mut config = from_zip(
        &function.name,
        &packaged.built.zip_path,
        &packaged.layer_zips,
        run,
        arch,
        &overrides,
    )?;
    config.timeout = Duration::from_secs_f64(function.spec.timeout_s);
    config.memory_mb = function.spec.memory_mb;
    config.response_streaming = function.spec.streams();
    config.max_concurrency = usize::try_from(function.spec.max_concurrency).unwrap_or(1);
    config.tenancy = tenancy(&function.spec);
    config.env = function
        .spec
        .environment
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(handler) = &function.spec.handler {
        config.handler = handler.clone();
    }
    apply(&mut config, &overrides)?;
    Ok(config)
}

/// The architecture to run: asked for, else this machine's when the spec allows it, else
/// the spec's first (arm64 on x86_64 runs under qemu-aarch64).
fn choose_architecture(
    function: &Function,
    asked: Option<Architecture>,
) -> anyhow::Result<Architecture> {
    let allowed = &function.spec.architectures;
    let host = host_architecture()?;
    match asked {
        Some(arch) if allowed.contains(&arch) => Ok(arch),
        Some(arch) => bail!(
            "function `{}` is not built for {arch}: {} lists [{}]",
            function.name,
            function.spec.path.display(),
            allowed
                .iter()
                .map(|a| a.name())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None if allowed.contains(&host) => Ok(host),
        None => allowed
            .first()
            .copied()
            .with_context(|| format!("function `{}` lists no architecture", function.name)),
    }
}

/// The emulator's configuration for a function zip from any tool, unpacked with
/// `layer_zips` (in order) as Lambda lays it out. A zip for the other architecture runs
/// under qemu when this machine has it, and otherwise is refused with how to run it.
pub fn from_zip(
    name: &str,
    zip: &Path,
    layer_zips: &[PathBuf],
    run: &RunFolder,
    arch: Architecture,
    overrides: &Overrides,
) -> anyhow::Result<FunctionConfig> {
    let layout = FunctionLayout::unpack(zip, layer_zips, &run.function_dir(name))
        .with_context(|| format!("unpacking {}", zip.display()))?;
    let mut config = layout_config(&layout, name)?;
    if let Some(mounts) = config.mounts.as_mut() {
        mounts.view = if overrides.host_view {
            View::Host
        } else {
            View::Al2023 {
                ephemeral_storage_mb: overrides
                    .ephemeral_storage_mb
                    .unwrap_or(View::DEFAULT_EPHEMERAL_STORAGE_MB),
            }
        };
    }
    if arch != host_architecture()? {
        let qemu = find_qemu(arch).with_context(|| {
            format!(
                "{} is an {arch} function and this machine is {}: install qemu-user \
                 (apt-get install qemu-user) to run it here, or run the {} build",
                zip.display(),
                std::env::consts::ARCH,
                std::env::consts::ARCH
            )
        })?;
        // The AL2023 view shows only the image's commands: qemu runs from the run's folder.
        let qemu = run.tool(&qemu)?;
        config.args = vec![config.executable.display().to_string()];
        config.executable = qemu;
    }
    Ok(config)
}

fn find_qemu(arch: Architecture) -> Option<PathBuf> {
    let program = match arch {
        Architecture::Arm64 => "qemu-aarch64",
        Architecture::X86_64 => "qemu-x86_64",
    };
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

/// Sets what the command line asked for, checked against Lambda's limits.
pub fn apply(config: &mut FunctionConfig, overrides: &Overrides) -> anyhow::Result<()> {
    if let Some(timeout) = overrides.timeout_s {
        config.timeout = lamina_context::facts::check_timeout(timeout)
            .map_err(|refused| anyhow::anyhow!("--timeout {timeout}: {}", refused.allowed))?;
    }
    if let Some(memory) = overrides.memory_mb {
        config.memory_mb = lamina_context::facts::check_memory_mb(u64::from(memory))
            .map_err(|refused| anyhow::anyhow!("--memory {memory}: {}", refused.allowed))?;
    }
    if !overrides.env.is_empty() {
        // Lambda counts the whole environment it is given: the spec's and the flags'. The
        // layout's PATH and LD_LIBRARY_PATH (only without namespaces) are the local Lambda's
        // stand-in for its own, not the function's.
        let layout_set =
            |key: &str| config.mounts.is_none() && matches!(key, "PATH" | "LD_LIBRARY_PATH");
        let bytes = crate::spec::environment_bytes(
            config
                .env
                .iter()
                .filter(|(key, _)| !layout_set(key))
                .chain(&overrides.env)
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        if bytes > lamina_context::facts::MAX_ENVIRONMENT_BYTES {
            // The spec's [environment] is counted too: name both.
            bail!(
                "--env (with the spec's [environment]): {}",
                crate::spec::environment_too_large(bytes)
            );
        }
    }
    config.env.extend(overrides.env.iter().cloned());
    if let Some(handler) = &overrides.handler {
        config.handler = handler.clone();
    }
    Ok(())
}

/// Runs the layout at Lambda's paths when the machine allows it, and says so when not.
fn layout_config(layout: &FunctionLayout, name: &str) -> anyhow::Result<FunctionConfig> {
    let namespaces = namespaces_available();
    if !namespaces {
        eprintln!(
            "warning: this machine does not allow user and mount namespaces \
             (`unshare --user --map-root-user --mount true` fails), so the function cannot see \
             its code at /var/task and its layers at /opt, and the AL2023 view is off: it sees \
             this machine's programs (python3, perl, ...), which provided.al2023 does not have. \
             It runs from {} with {}/bin on PATH and {}/lib on LD_LIBRARY_PATH; absolute paths \
             such as #!/opt/bin/perl will not work.",
            layout.task.display(),
            layout.opt.display(),
            layout.opt.display()
        );
    }
    Ok(layout.function_config(name, namespaces)?)
}

/// A function name (letters, digits, `-`, `_`) from a zip's or executable's file name.
pub fn function_name_from(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() {
        "function".to_string()
    } else {
        name
    }
}

/// The emulator's tenancy for a spec's `tenant-isolation-mode`.
pub fn tenancy(spec: &crate::spec::FunctionSpec) -> lamina_emulator::Tenancy {
    if spec.per_tenant {
        lamina_emulator::Tenancy::PerTenant
    } else {
        lamina_emulator::Tenancy::Shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_refuses_what_only_a_zip_can_have() {
        assert_eq!(refused_with_bootstrap(&Overrides::default()), None);
        let with = |overrides: Overrides| refused_with_bootstrap(&overrides).unwrap();
        assert!(
            with(Overrides {
                layers: Some(vec!["runtime".into()]),
                arch: Some(Architecture::Arm64),
                ..Overrides::default()
            })
            .starts_with("--layer: --bootstrap runs the executable as it is")
        );
        assert!(
            with(Overrides {
                arch: Some(Architecture::Arm64),
                ..Overrides::default()
            })
            .starts_with("--arch arm64: ")
        );
        assert!(
            with(Overrides {
                ephemeral_storage_mb: Some(1024),
                ..Overrides::default()
            })
            .ends_with("to size /tmp, give a function of the project or --zip")
        );
        // What it can honour passes.
        let honoured = Overrides {
            timeout_s: Some(5.0),
            memory_mb: Some(256),
            host_view: true,
            ..Overrides::default()
        };
        assert_eq!(refused_with_bootstrap(&honoured), None);
    }

    #[test]
    fn flags_outside_lambdas_ranges_are_refused_in_the_flags_words() {
        let mut config = FunctionConfig::new("f".to_string(), PathBuf::from("/bin/true"));
        let refused = |config: &mut FunctionConfig, overrides: Overrides| {
            apply(config, &overrides).unwrap_err().to_string()
        };
        assert_eq!(
            refused(
                &mut config,
                Overrides {
                    timeout_s: Some(0.0),
                    ..Overrides::default()
                }
            ),
            "--timeout 0: Lambda allows 1 to 900 seconds"
        );
        assert_eq!(
            refused(
                &mut config,
                Overrides {
                    memory_mb: Some(lamina_context::facts::MEMORY_MB_RANGE.end() + 1),
                    ..Overrides::default()
                }
            ),
            "--memory 10241: Lambda allows 128 to 10240 MB"
        );
        apply(
            &mut config,
            &Overrides {
                timeout_s: Some(900.0),
                memory_mb: Some(*lamina_context::facts::MEMORY_MB_RANGE.end()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(
            (config.timeout, config.memory_mb),
            (
                Duration::from_secs(900),
                *lamina_context::facts::MEMORY_MB_RANGE.end()
            )
        );
    }
}
