//! Tree specs: `layers/<name>/layer.toml` and `samples/<name>/package.toml`.
//! The format is documented in `layers/README.md`.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::elf::{ElfBundle, ElfOptions, ElfSpec, ElfTarget, add_elf_files};
use crate::error::{Error, Result};
use crate::manifest::{Architecture, ArtifactKind, DEFAULT_RUNTIME};
use crate::pip::{PipInstall, PipOptions, PipSpec};
use crate::tree::{FileMode, Tree};

/// A tree spec, as parsed from TOML. Unknown keys are refused so a typo
/// cannot silently drop a file.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Spec {
    /// Free text for people.
    #[serde(default)]
    pub description: Option<String>,
    /// Lambda runtimes it is meant for; `["provided.al2023"]` by default.
    #[serde(default = "default_runtimes")]
    pub compatible_runtimes: Vec<String>,
    /// Architectures to build; both by default.
    #[serde(default = "Architecture::all")]
    pub architectures: Vec<Architecture>,
    /// Functions only: names of layers under `layers/` the function uses.
    #[serde(default)]
    pub layers: Vec<String>,
    /// Functions only: the `_HANDLER` the function is meant to run with (e.g.
    /// `handler.handle`), used by local runs (`cargo lamina invoke`); not part of the zip.
    #[serde(default)]
    pub handler: Option<String>,
    /// Files and folders of the repository.
    #[serde(default)]
    pub copy: Vec<CopySpec>,
    /// Binaries built from workspace packages.
    #[serde(default)]
    pub binary: Vec<BinarySpec>,
    /// Files whose content is written in the spec.
    #[serde(default)]
    pub generated: Vec<GeneratedSpec>,
    /// Relative symlinks.
    #[serde(default)]
    pub symlink: Vec<SymlinkSpec>,
    /// Executables and shared libraries of the build machine, with the libraries they
    /// need (see [`crate::add_elf_files`]).
    #[serde(default)]
    pub elf: Vec<ElfSpec>,
    /// How `[[elf]]` files' libraries are looked for.
    #[serde(default)]
    pub elf_options: ElfOptions,
    /// Layers only: Python requirements installed as wheels under `python/` (see
    /// [`Spec::add_pip_into`]).
    #[serde(default)]
    pub pip: Vec<PipSpec>,
}

/// `[[copy]]`: a file or folder of the repository, or of the build machine with `host = true`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CopySpec {
    /// Relative to the spec's folder and inside the repository; with `host`, an absolute
    /// path of the build machine.
    pub from: String,
    /// Destination in the tree; `.` puts a folder's contents at the root.
    pub to: String,
    /// Opts in to taking `from` from the build machine (an interpreter's library tree):
    /// absolute paths only, every symlink inside must stay inside `from`, and Python
    /// bytecode (`__pycache__`, `*.pyc`) is left out. A host `from` holding `{arch}`
    /// (`x86_64`, `arm64`) or `{triplet}` (`x86_64-linux-gnu`, `aarch64-linux-gnu`) is
    /// that architecture's file: it is added per architecture, with the `[[elf]]` files
    /// (see [`Spec::add_elf_into`]).
    #[serde(default)]
    pub host: bool,
}

impl CopySpec {
    /// Whether this is a host copy whose source differs per architecture.
    fn per_architecture(&self) -> bool {
        self.host && (self.from.contains("{arch}") || self.from.contains("{triplet}"))
    }
}

/// `[[binary]]`: a binary of a workspace package, cross-compiled by the caller.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BinarySpec {
    /// The workspace package.
    pub package: String,
    /// The binary's name; the package's name by default.
    #[serde(default)]
    pub bin: Option<String>,
    /// Destination in the tree (always mode 0755).
    pub to: String,
}

impl BinarySpec {
    /// The binary's name (`bin`, or the package name).
    pub fn bin_name(&self) -> &str {
        self.bin.as_deref().unwrap_or(&self.package)
    }
}

/// `[[generated]]`: a file written from the spec.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GeneratedSpec {
    /// Destination in the tree.
    pub to: String,
    /// The file's content, as UTF-8 text.
    pub content: String,
    /// `0o644` (default) or `0o755`.
    #[serde(default = "default_mode")]
    pub mode: u32,
}

/// `[[symlink]]`: a relative symlink that must resolve inside the tree.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SymlinkSpec {
    /// Where the link is.
    pub to: String,
    /// What it points at, relative to the link's folder.
    pub target: String,
}

/// Built binaries handed to [`Spec::assemble`], keyed by (package, bin).
pub type BuiltBinaries = BTreeMap<(String, String), PathBuf>;

impl Default for Spec {
    /// The spec of an empty file: both architectures, `provided.al2023`, nothing to add.
    fn default() -> Self {
        Spec {
            description: None,
            compatible_runtimes: default_runtimes(),
            architectures: Architecture::all(),
            layers: Vec::new(),
            handler: None,
            copy: Vec::new(),
            binary: Vec::new(),
            generated: Vec::new(),
            symlink: Vec::new(),
            elf: Vec::new(),
            elf_options: ElfOptions::default(),
            pip: Vec::new(),
        }
    }
}

fn default_runtimes() -> Vec<String> {
    vec![DEFAULT_RUNTIME.to_owned()]
}

fn default_mode() -> u32 {
    0o644
}

impl Spec {
    /// Installs each `[[pip]]` requirements file's wheels for `arch` into `tree` at
    /// `python/`, staged in `options.work_dir` (see [`PipOptions`]). Requirements files
    /// must stay inside `repo_root`. Nothing is run when the spec has no `[[pip]]`.
    pub fn add_pip_into(
        &self,
        tree: &mut Tree,
        spec_dir: &Path,
        repo_root: &Path,
        arch: Architecture,
        options: &PipOptions,
    ) -> Result<Vec<PipInstall>> {
        crate::pip::add_pip(&self.pip, tree, spec_dir, repo_root, arch, options)
    }

    /// Reads and parses a spec file; `kind` decides which keys are allowed.
    pub fn load(path: &Path, kind: ArtifactKind) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
        Self::parse(&text, path, kind)
    }

    /// Parses spec text; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path, kind: ArtifactKind) -> Result<Self> {
        let spec: Spec = toml::from_str(text).map_err(|e| Error::Spec {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let refuse = |message: String| {
            Err(Error::Spec {
                path: path.to_owned(),
                message,
            })
        };
        if kind == ArtifactKind::Layer && !spec.layers.is_empty() {
            return refuse("`layers` is for functions: a layer cannot use layers".into());
        }
        if kind == ArtifactKind::Layer && spec.handler.is_some() {
            return refuse("`handler` is for functions: a layer has no handler".into());
        }
        if spec.architectures.is_empty() {
            return refuse("`architectures` is empty: name x86_64, arm64 or both".into());
        }
        if spec.compatible_runtimes.is_empty() {
            return refuse("`compatible-runtimes` is empty".into());
        }
        crate::pip::check_specs(&spec.pip, &spec.compatible_runtimes, kind, text, path)?;
        Ok(spec)
    }

    /// The (package, bin) pairs the caller must build before [`Spec::assemble`].
    pub fn binaries_needed(&self) -> Vec<(String, String)> {
        let mut needed: Vec<_> = self
            .binary
            .iter()
            .map(|b| (b.package.clone(), b.bin_name().to_owned()))
            .collect();
        needed.sort();
        needed.dedup();
        needed
    }

    /// Adds everything the spec names to `tree`. `spec_dir` is the folder
    /// `[[copy]]` sources are relative to; they must stay inside `repo_root`.
    pub fn assemble_into(
        &self,
        tree: &mut Tree,
        spec_dir: &Path,
        repo_root: &Path,
        built: &BuiltBinaries,
    ) -> Result<()> {
        let root = repo_root
            .canonicalize()
            .map_err(|e| Error::io("reading", repo_root, e))?;
        for copy in &self.copy {
            if copy.per_architecture() {
                // Added by `add_elf_into`, which knows the architecture.
                continue;
            }
            if copy.host {
                let source = host_source_path(&copy.from)?;
                tree.add_path_except(&copy.to, &source, &is_python_bytecode)?;
            } else {
                let source = source_path(&copy.from, spec_dir, &root)?;
                tree.add_path(&copy.to, &source)?;
            }
        }
        for binary in &self.binary {
            let key = (binary.package.clone(), binary.bin_name().to_owned());
            let path = built.get(&key).ok_or_else(|| Error::BinaryNotBuilt {
                package: binary.package.clone(),
                bin: binary.bin_name().to_owned(),
                path: binary.to.clone(),
            })?;
            let label = format!(
                "binary `{}` of package `{}`",
                binary.bin_name(),
                binary.package
            );
            tree.add_executable(&binary.to, path, &label)?;
        }
        for generated in &self.generated {
            let mode = FileMode::from_spec(&generated.to, generated.mode)?;
            tree.add_bytes(&generated.to, generated.content.as_bytes().to_vec(), mode)?;
        }
        for link in &self.symlink {
            tree.add_symlink(&link.to, &link.target)?;
        }
        Ok(())
    }

    /// Adds the spec's `[[elf]]` files and the libraries they need for `target` to
    /// `tree`, the future `/opt` or `/var/task` by `kind` (see [`crate::add_elf_files`]);
    /// `None` when the spec has none. Host `[[copy]]` entries whose `from` names `{arch}` or
    /// `{triplet}` are added here too, for `target`'s architecture (an interpreter's
    /// module tree with its compiled modules is one per architecture, like its binary).
    pub fn add_elf_into(
        &self,
        tree: &mut Tree,
        kind: ArtifactKind,
        target: &ElfTarget,
    ) -> Result<Option<ElfBundle>> {
        for copy in self.copy.iter().filter(|c| c.per_architecture()) {
            let from = copy.from.replace("{arch}", target.arch.name()).replace(
                "{triplet}",
                crate::elf::elf_arch(target.arch).multiarch_triplet(),
            );
            let source = host_source_path(&from)?;
            tree.add_path_except(&copy.to, &source, &is_python_bytecode)?;
        }
        add_elf_files(&self.elf, &self.elf_options, tree, kind, target)
    }

    /// A new tree holding everything the spec names (see [`Spec::assemble_into`]).
    pub fn assemble(
        &self,
        spec_dir: &Path,
        repo_root: &Path,
        built: &BuiltBinaries,
    ) -> Result<Tree> {
        let mut tree = Tree::new();
        self.assemble_into(&mut tree, spec_dir, repo_root, built)?;
        Ok(tree)
    }
}

/// Resolves a `[[copy]]` source: relative to `spec_dir`, and after
/// following symlinks still inside `root`.
fn source_path(from: &str, spec_dir: &Path, root: &Path) -> Result<PathBuf> {
    let outside = || Error::SourceOutsideRoot {
        path: from.to_owned(),
        root: root.to_owned(),
    };
    if Path::new(from).is_absolute() {
        return Err(outside());
    }
    let joined = spec_dir.join(from);
    let resolved = joined
        .canonicalize()
        .map_err(|e| Error::io("reading", &joined, e))?;
    if !resolved.starts_with(root) || resolved.components().any(|c| c == Component::ParentDir) {
        return Err(outside());
    }
    Ok(resolved)
}

/// Resolves a `[[copy]]` source with `host = true`: an absolute path without `..`, read
/// through if it is a symlink (`/usr/share/perl/5.36` -> `5.36.0`). Inside a folder, every
/// symlink must resolve inside that folder: one that leaves it would, once unpacked, point at
/// whatever the tree has there (or at nothing) instead of what it meant on this machine.
fn host_source_path(from: &str) -> Result<PathBuf> {
    let path = Path::new(from);
    if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
        return Err(Error::HostSourceNotAbsolute {
            path: from.to_owned(),
        });
    }
    let resolved = path
        .canonicalize()
        .map_err(|e| Error::io("reading", path, e))?;
    if resolved.is_dir() {
        for entry in walkdir::WalkDir::new(&resolved).follow_links(false) {
            let entry = entry.map_err(|e| {
                let at = e.path().unwrap_or(&resolved).to_owned();
                let io = e
                    .into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("walking failed"));
                Error::io("reading", at, io)
            })?;
            if !entry.path_is_symlink() || is_python_bytecode(entry.path()) {
                continue;
            }
            let inside = entry
                .path()
                .canonicalize()
                .is_ok_and(|target| target.starts_with(&resolved));
            if !inside {
                let target = std::fs::read_link(entry.path())
                    .map_err(|e| Error::io("reading symlink", entry.path(), e))?;
                return Err(Error::HostSymlinkEscapes {
                    link: entry.path().to_owned(),
                    target: target.to_string_lossy().into_owned(),
                    root: resolved,
                });
            }
        }
    }
    Ok(resolved)
}

/// Python's bytecode caches: written by whichever interpreter last ran on this machine, with
/// its timestamps inside, so never the same bytes twice; the interpreter rebuilds them.
fn is_python_bytecode(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == "__pycache__")
        || path.extension().is_some_and(|e| e == "pyc")
}
