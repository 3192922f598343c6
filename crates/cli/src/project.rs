//! Finding the functions of a user's project: any Cargo package or workspace, or a folder
//! of scripts, wherever it lives.
//!
//! A function is a folder with a `lamina.toml`, or a Cargo package with
//! `[package.metadata.lamina]`, a `lamina.toml` beside its Cargo.toml, or a binary named
//! `bootstrap`. `-p/--package` makes any package of the workspace a function with Lambda's
//! defaults. Layers of the project are `layers/NAME/layer.toml` under its root.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use cargo_metadata::{Metadata, Package};

use crate::spec::{FunctionSpec, SPEC_FILE, valid_function_name};
use crate::suggest::did_you_mean;

/// Where to look, as the user said it (`--manifest-path`, `-p`, `--bin`).
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// A Cargo.toml or a folder; the current folder when `None`.
    pub manifest_path: Option<PathBuf>,
    /// Only this Cargo package, a function even without a spec.
    pub package: Option<String>,
    /// The binary of that package to ship as `bootstrap`.
    pub bin: Option<String>,
}

/// A Rust function's binary: built by cargo, shipped as `bootstrap`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RustBinary {
    /// The Cargo package.
    pub package: String,
    /// The binary's name in the package.
    pub bin: String,
}

/// One function of the project.
#[derive(Clone, Debug)]
pub struct Function {
    /// Its name: the spec's `name`, else the package's or the folder's.
    pub name: String,
    /// The folder of its spec; `[[copy]]` sources are relative to it.
    pub dir: PathBuf,
    /// Its spec (Lambda's defaults when it has none).
    pub spec: FunctionSpec,
    /// For a Rust function, the binary to build.
    pub rust: Option<RustBinary>,
}

/// A project: its root, where builds go, its functions.
#[derive(Clone, Debug)]
pub struct Project {
    /// The Cargo workspace root, or the folder of scripts.
    pub root: PathBuf,
    /// Cargo's target directory (`<root>/target` for a folder of scripts).
    pub target_dir: PathBuf,
    /// Whether `root` holds a Cargo workspace (so Rust binaries can be built).
    pub is_cargo: bool,
    /// The functions, sorted by name.
    pub functions: Vec<Function>,
}

/// Folders never searched for function specs.
const SKIPPED: &[&str] = &["target", "node_modules", "layers"];
/// How deep under the root script functions are looked for.
const SEARCH_DEPTH: usize = 3;

impl Project {
    /// Finds the project the selection names and its functions.
    pub fn discover(selection: &Selection) -> anyhow::Result<Project> {
        let start = match &selection.manifest_path {
            Some(path) if path.is_dir() => path.clone(),
            Some(path) if path.file_name().is_some_and(|n| n == "Cargo.toml") => {
                if !path.is_file() {
                    bail!("--manifest-path {}: no such file", path.display());
                }
                path.parent().map(Path::to_path_buf).unwrap_or_default()
            }
            Some(path) => bail!(
                "--manifest-path {}: give a Cargo.toml or a folder",
                path.display()
            ),
            None => std::env::current_dir().context("reading the current folder")?,
        };
        let start = std::path::absolute(&start)
            .with_context(|| format!("resolving {}", start.display()))?;
        match find_upwards(&start, "Cargo.toml") {
            Some(manifest) => Self::from_cargo(&manifest, &start, selection),
            None => {
                if selection.package.is_some() || selection.bin.is_some() {
                    bail!(
                        "-p/--bin: no Cargo.toml in {} or above; a folder of scripts has no packages",
                        start.display()
                    );
                }
                let root = find_upwards(&start, SPEC_FILE)
                    .and_then(|spec| spec.parent().map(Path::to_path_buf))
                    .unwrap_or(start);
                let mut functions = Vec::new();
                script_functions(&root, 0, &mut functions)?;
                functions.sort_by(|a, b| a.name.cmp(&b.name));
                check_unique(&functions)?;
                // As cargo does: CARGO_TARGET_DIR, relative to the current folder.
                let target_dir = match std::env::var_os("CARGO_TARGET_DIR") {
                    Some(dir) => std::path::absolute(PathBuf::from(dir))
                        .context("resolving CARGO_TARGET_DIR")?,
                    None => root.join("target"),
                };
                Ok(Project {
                    target_dir,
                    root,
                    is_cargo: false,
                    functions,
                })
            }
        }
    }

    fn from_cargo(manifest: &Path, start: &Path, selection: &Selection) -> anyhow::Result<Self> {
        let metadata = cargo_metadata::MetadataCommand::new()
            .manifest_path(manifest)
            .no_deps()
            .exec()
            .with_context(|| format!("reading the Cargo metadata of {}", manifest.display()))?;
        let root = metadata.workspace_root.clone().into_std_path_buf();
        let target_dir = metadata.target_directory.clone().into_std_path_buf();
        let mut functions = Vec::new();
        if let Some(name) = &selection.package {
            let package = find_package(&metadata, name)?;
            functions.push(
                rust_function(package, selection.bin.as_deref(), true)?
                    .with_context(|| format!("package `{name}` is not a function"))?,
            );
        } else {
            for package in metadata.workspace_packages() {
                if let Some(function) = rust_function(package, selection.bin.as_deref(), false)? {
                    functions.push(function);
                }
            }
            script_functions(&root, 0, &mut functions)?;
            // Run from inside one function's folder, a command means that function.
            let here: Vec<Function> = functions
                .iter()
                .filter(|f| f.dir == start && start != root)
                .cloned()
                .collect();
            if !here.is_empty() {
                functions = here;
            }
        }
        functions.sort_by(|a, b| a.name.cmp(&b.name));
        check_unique(&functions)?;
        Ok(Project {
            root,
            target_dir,
            is_cargo: true,
            functions,
        })
    }

    /// The function named `name`; the error lists the functions there are.
    pub fn function(&self, name: &str) -> anyhow::Result<&Function> {
        if let Some(function) = self.functions.iter().find(|f| f.name == name) {
            return Ok(function);
        }
        // `.` or `fns/hello`: the function in that folder.
        if (name == "." || name.contains('/'))
            && let Ok(dir) = Path::new(name).canonicalize()
            && let Some(function) = self
                .functions
                .iter()
                .find(|f| f.dir.canonicalize().is_ok_and(|d| d == dir))
        {
            return Ok(function);
        }
        let names: Vec<&str> = self.functions.iter().map(|f| f.name.as_str()).collect();
        bail!(
            "no function `{name}` in {}{}; {}",
            self.root.display(),
            did_you_mean(name, &names),
            self.listing()
        )
    }

    /// The one function when there is exactly one; otherwise an error listing them.
    pub fn only_function(&self) -> anyhow::Result<&Function> {
        match self.functions.as_slice() {
            [one] => Ok(one),
            [] => bail!("{}", self.listing()),
            [first, ..] => bail!(
                "{}; name the one you mean (e.g. `{}`)",
                self.listing(),
                first.name
            ),
        }
    }

    /// The functions named (all when `names` is empty).
    pub fn selected(&self, names: &[String]) -> anyhow::Result<Vec<&Function>> {
        if names.is_empty() {
            if self.functions.is_empty() {
                bail!("{}", self.listing());
            }
            return Ok(self.functions.iter().collect());
        }
        names.iter().map(|name| self.function(name)).collect()
    }

    /// "functions here: a, b", or how to make one when there are none.
    pub fn listing(&self) -> String {
        if self.functions.is_empty() {
            return format!(
                "no function found in {}: a function is a folder with a {SPEC_FILE}, or a Cargo \
                 package with [package.metadata.lamina] or a binary named `bootstrap` \
                 (start one with `cargo lamina new NAME`)",
                self.root.display()
            );
        }
        let names: Vec<&str> = self.functions.iter().map(|f| f.name.as_str()).collect();
        format!("functions here: {}", names.join(", "))
    }

    /// `<root>/layers/NAME` when it holds a `layer.toml`.
    pub fn layer_dir(&self, name: &str) -> Option<PathBuf> {
        let dir = self.root.join("layers").join(name);
        dir.join("layer.toml").is_file().then_some(dir)
    }
}

fn find_upwards(start: &Path, file: &str) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(file))
        .find(|path| path.is_file())
}

fn find_package<'a>(metadata: &'a Metadata, name: &str) -> anyhow::Result<&'a Package> {
    let packages = metadata.workspace_packages();
    if let Some(package) = packages.iter().find(|p| p.name.as_str() == name) {
        return Ok(package);
    }
    let mut names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    bail!(
        "-p {name}: no such package in the workspace{}; packages: {}",
        did_you_mean(name, &names),
        names.join(", ")
    )
}

/// The package as a function, if it is one (or `forced` by `-p`).
fn rust_function(
    package: &Package,
    bin: Option<&str>,
    forced: bool,
) -> anyhow::Result<Option<Function>> {
    let manifest = package.manifest_path.as_std_path();
    let dir = manifest.parent().map(Path::to_path_buf).unwrap_or_default();
    let beside = dir.join(SPEC_FILE);
    let spec = if beside.is_file() {
        Some(FunctionSpec::load(&beside)?)
    } else {
        FunctionSpec::from_cargo_manifest(manifest)?
    };
    let bins: Vec<&str> = package
        .targets
        .iter()
        .filter(|t| t.is_bin())
        .map(|t| t.name.as_str())
        .collect();
    let has_bootstrap = bins.contains(&"bootstrap");
    if spec.is_none() && !has_bootstrap && !forced {
        return Ok(None);
    }
    let spec = spec.unwrap_or_else(|| FunctionSpec::defaults(manifest));
    let wanted = bin.map(str::to_owned).or_else(|| spec.bin.clone());
    let bin = match wanted {
        Some(bin) if bins.contains(&bin.as_str()) => bin,
        Some(bin) => bail!(
            "package `{}` has no binary `{bin}`{}; its binaries: {}",
            package.name,
            did_you_mean(&bin, &bins),
            if bins.is_empty() {
                "(none)".to_owned()
            } else {
                bins.join(", ")
            }
        ),
        None if has_bootstrap => "bootstrap".to_owned(),
        None => match bins.as_slice() {
            [only] => (*only).to_owned(),
            [] => bail!(
                "package `{}` has no binary to ship as `bootstrap` (add src/main.rs)",
                package.name
            ),
            many => bail!(
                "package `{}` has binaries {}: say which one is the function with --bin or `bin` in {SPEC_FILE}",
                package.name,
                many.join(", ")
            ),
        },
    };
    let name = spec
        .name
        .clone()
        .unwrap_or_else(|| package.name.to_string());
    if !valid_function_name(&name) {
        bail!(
            "{}: package name `{name}` is not a Lambda function name; set `name` in {SPEC_FILE}",
            manifest.display()
        );
    }
    let package_name = spec
        .package
        .clone()
        .unwrap_or_else(|| package.name.to_string());
    Ok(Some(Function {
        name,
        dir,
        spec,
        rust: Some(RustBinary {
            package: package_name,
            bin,
        }),
    }))
}

/// Folders under `dir` holding a `lamina.toml` and no Cargo.toml: script functions.
fn script_functions(dir: &Path, depth: usize, out: &mut Vec<Function>) -> anyhow::Result<()> {
    let spec_path = dir.join(SPEC_FILE);
    if spec_path.is_file() && !dir.join("Cargo.toml").is_file() {
        let spec = FunctionSpec::load(&spec_path)?;
        let folder_name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("function")
            .to_owned();
        let name = spec.name.clone().unwrap_or(folder_name);
        if !valid_function_name(&name) {
            bail!(
                "{}: folder name `{name}` is not a Lambda function name; set `name` in it",
                spec_path.display()
            );
        }
        out.push(Function {
            name,
            dir: dir.to_owned(),
            spec,
            rust: None,
        });
    }
    if depth >= SEARCH_DEPTH {
        return Ok(());
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let mut subdirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| !n.starts_with('.') && !SKIPPED.contains(&n))
        })
        .map(|e| e.path())
        .collect();
    subdirs.sort();
    for sub in subdirs {
        script_functions(&sub, depth + 1, out)?;
    }
    Ok(())
}

fn check_unique(functions: &[Function]) -> anyhow::Result<()> {
    for pair in functions.windows(2) {
        if pair[0].name == pair[1].name {
            bail!(
                "two functions are named `{}`: {} and {}; set a distinct `name` in one {SPEC_FILE}",
                pair[0].name,
                pair[0].dir.display(),
                pair[1].dir.display()
            );
        }
    }
    Ok(())
}
