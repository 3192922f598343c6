//! The ELF checks every layer and function goes through, on a tree before it is zipped
//! or on any zip: each ELF file is for the target architecture, needs no glibc newer
//! than the image's, and finds every library it needs (in the image, in the artifact,
//! or in the layers it runs with), with no bundled library shadowed by the image's copy.
//!
//! The files are laid out in a scratch folder as Lambda lays them out (`var/task`,
//! `opt`) and resolved by `lamina-elf` with that folder as the sysroot and Lambda's
//! `LD_LIBRARY_PATH`, so `DT_RPATH=/opt/lib` and `$ORIGIN` mean what they mean there.

use std::fs;
use std::io::Read;
use std::os::unix::fs::symlink;
use std::path::{Component, Path, PathBuf};

use lamina_elf::{Closure, ElfFileError, ElfInfo, GlibcVersion, Problem, ResolveOptions, is_elf};

use crate::elf::{ElfTarget, elf_arch};
use crate::error::{Error, Result};
use crate::manifest::{Architecture, ArtifactKind};
use crate::tree::{Content, EntryKind, PlannedEntry, Tree};

/// Lambda's `LD_LIBRARY_PATH` on `provided.al2023`, minus the image's own folders
/// (whose libraries are the provided list).
static LIBRARY_PATH: std::sync::LazyLock<[String; 3]> = std::sync::LazyLock::new(|| {
    use crate::manifest::ArtifactKind::{Function, Layer};
    let library_dir = crate::elf::library_dir;
    [
        lamina_context::facts::TASK_ROOT.to_string(),
        library_dir(Function),
        library_dir(Layer),
    ]
});

/// The outcome of checking an artifact's ELF files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfCheck {
    /// The architecture checked for.
    pub arch: Architecture,
    /// The newest glibc allowed.
    pub max_glibc: GlibcVersion,
    /// Lambda paths of the ELF files checked (the artifact's own, not its layers').
    pub files: Vec<String>,
    /// What would fail on Lambda, each message naming the file (as a Lambda path) and
    /// the fix.
    pub problems: Vec<String>,
}

impl ElfCheck {
    /// True when nothing would fail.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// A short report: what was checked, then each problem.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{} ELF file(s) checked for {} (glibc <= {}): ",
            self.files.len(),
            self.arch,
            self.max_glibc
        );
        if self.problems.is_empty() {
            out.push_str("ok\n");
        } else {
            out.push_str(&format!("{} problem(s)\n", self.problems.len()));
            for problem in &self.problems {
                out.push_str(&format!("  - {problem}\n"));
            }
        }
        out
    }

    /// `Ok(self)` when nothing would fail, else [`Error::ElfCheckFailed`] naming `artifact`.
    pub fn into_result(self, artifact: &str) -> Result<Self> {
        if self.is_ok() {
            Ok(self)
        } else {
            Err(Error::ElfCheckFailed {
                artifact: artifact.to_owned(),
                report: self.render(),
            })
        }
    }
}

/// Checks the ELF files of `tree`, which becomes `/var/task` (a function) or `/opt` (a
/// layer), running with the layer zips `layers` (in order, unpacked into `/opt`).
pub fn check_tree(
    tree: &Tree,
    kind: ArtifactKind,
    layers: &[PathBuf],
    target: &ElfTarget,
) -> Result<ElfCheck> {
    let entries = tree.plan()?;
    let stage = Stage::new(layers)?;
    let mut files = Vec::new();
    let base = stage.place(kind);
    for entry in &entries {
        stage_planned(&base, entry, &mut files)?;
    }
    stage.check(&files, target)
}

/// Checks the ELF files of the zip `zip` (unpacked into `/var/task` or `/opt` by
/// `kind`), running with the layer zips `layers`.
pub fn check_zip(
    zip: &Path,
    kind: ArtifactKind,
    layers: &[PathBuf],
    target: &ElfTarget,
) -> Result<ElfCheck> {
    let stage = Stage::new(layers)?;
    let files = unzip_elf_files(zip, &stage.place(kind))?;
    stage.check(&files, target)
}

/// A scratch folder laid out like Lambda's file system.
struct Stage {
    dir: tempfile::TempDir,
}

impl Stage {
    fn new(layers: &[PathBuf]) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("lamina-elf-check-")
            .tempdir()
            .map_err(|e| Error::io("creating a temporary folder in", std::env::temp_dir(), e))?;
        for sub in ["opt", "var/task"] {
            let path = dir.path().join(sub);
            fs::create_dir_all(&path).map_err(|e| Error::io("creating", &path, e))?;
        }
        let stage = Stage { dir };
        for layer in layers {
            unzip_elf_files(layer, &stage.place(ArtifactKind::Layer))?;
        }
        Ok(stage)
    }

    fn place(&self, kind: ArtifactKind) -> PathBuf {
        self.dir.path().join(match kind {
            ArtifactKind::Function => "var/task",
            ArtifactKind::Layer => "opt",
        })
    }

    /// Resolves `files` (host paths in the stage) and keeps what Lambda would trip on.
    fn check(&self, files: &[PathBuf], target: &ElfTarget) -> Result<ElfCheck> {
        let root = self.dir.path();
        let lambda_path = |path: &Path| match path.strip_prefix(root) {
            Ok(rel) => format!("/{}", rel.display()),
            Err(_) => path.display().to_string(),
        };
        let mut problems = Vec::new();
        let mut roots = Vec::new();
        let mut infos = Vec::new();
        for file in files {
            // Only the headers and tables the loader reads: a small zip may unpack to a
            // huge program.
            match ElfInfo::parse_file(file) {
                Ok(info) if info.is_loadable() => {
                    roots.push(file.clone());
                    infos.push(info);
                }
                Ok(_) => {} // Object files and core dumps are never loaded.
                Err(ElfFileError::Io(e)) => return Err(Error::io("reading", file, e)),
                Err(ElfFileError::Elf(error)) => problems.push(
                    Problem::Unreadable {
                        path: file.clone(),
                        error: error.to_string(),
                    }
                    .render(&lambda_path),
                ),
            }
        }
        let search: Vec<PathBuf> = LIBRARY_PATH
            .iter()
            .map(|dir| root.join(dir.trim_start_matches('/')))
            .collect();
        let options = ResolveOptions {
            arch: elf_arch(target.arch),
            sysroot: root,
            extra_search_dirs: &search,
            provided: &target.provided,
            max_glibc: target.max_glibc,
            use_ld_so_conf: false,
        };
        let closure = Closure::resolve(&roots, &options).map_err(|e| Error::ElfCheckFailed {
            artifact: "check".into(),
            report: e.to_string(),
        })?;
        for problem in &closure.problems {
            if let Problem::Shadowed { path, programs, .. } = problem
                && !programs.is_empty()
                && programs
                    .iter()
                    .all(|program| rpath_reaches(&closure, program, path, root))
            {
                continue;
            }
            problems.push(match problem {
                // The builder's fix (install a package on the build machine) does not
                // apply to a zip: say where on Lambda the library has to be instead.
                Problem::MissingLibrary {
                    soname, needed_by, ..
                } => format!(
                    "{soname}: needed by {}, but neither the image nor the function and its \
                     layers have it (looked in /var/task, /var/task/lib, /opt/lib and the \
                     files' DT_RPATH/DT_RUNPATH); Lambda would fail with \"{soname}: cannot \
                     open shared object file\". Fix: ship it as lib/{soname} in the function \
                     or in a layer (check a function with its layers: --layer <zip>).",
                    needed_by
                        .iter()
                        .map(|p| lambda_path(p))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                other => other.render(&lambda_path),
            });
        }
        Ok(ElfCheck {
            arch: target.arch,
            max_glibc: target.max_glibc,
            files: files.iter().map(|f| lambda_path(f)).collect(),
            problems,
        })
    }
}

/// True when `program` has a `DT_RPATH` (and no `DT_RUNPATH`, which would switch it off)
/// naming the folder `library` is in, so the loader finds it before `LD_LIBRARY_PATH`.
fn rpath_reaches(closure: &Closure, program: &Path, library: &Path, root: &Path) -> bool {
    let Some(info) = closure
        .roots
        .iter()
        .find(|r| r.path == program)
        .map(|r| &r.info)
    else {
        return false;
    };
    if !info.runpath.is_empty() {
        return false;
    }
    let (Some(library_dir), Some(program_dir)) = (library.parent(), program.parent()) else {
        return false;
    };
    info.rpath.iter().flat_map(|r| r.split(':')).any(|entry| {
        let expanded = if let Some(rest) = entry
            .strip_prefix("$ORIGIN")
            .or_else(|| entry.strip_prefix("${ORIGIN}"))
        {
            program_dir.join(rest.trim_start_matches('/'))
        } else if entry.starts_with('/') {
            root.join(entry.trim_start_matches('/'))
        } else {
            return false;
        };
        normalise(&expanded) == normalise(library_dir)
    })
}

fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Writes one planned entry into the stage when it matters to the loader: folders,
/// symlinks, and files that start like ELF. Records ELF files in `files`.
fn stage_planned(base: &Path, entry: &PlannedEntry, files: &mut Vec<PathBuf>) -> Result<()> {
    let path = base.join(entry.name.trim_end_matches('/'));
    match entry.kind {
        EntryKind::Folder => fs::create_dir_all(&path).map_err(|e| Error::io("creating", &path, e)),
        EntryKind::Symlink => {
            make_parent(&path)?;
            let target = entry.target.as_deref().unwrap_or_default();
            symlink(target, &path).map_err(|e| Error::io("creating symlink", &path, e))
        }
        EntryKind::File => {
            let bytes = match &entry.content {
                Some(Content::Inline(bytes)) => bytes.clone(),
                Some(Content::Disk(source)) => {
                    let mut head = [0u8; 4];
                    let mut file =
                        fs::File::open(source).map_err(|e| Error::io("opening", source, e))?;
                    let read = file
                        .read(&mut head)
                        .map_err(|e| Error::io("reading", source, e))?;
                    if !is_elf(&head[..read]) {
                        return Ok(());
                    }
                    fs::read(source).map_err(|e| Error::io("reading", source, e))?
                }
                None => return Ok(()),
            };
            if !is_elf(&bytes) {
                return Ok(());
            }
            make_parent(&path)?;
            fs::write(&path, bytes).map_err(|e| Error::io("writing", &path, e))?;
            files.push(path);
            Ok(())
        }
    }
}

fn make_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(parent) => fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e)),
        None => Ok(()),
    }
}

/// Unpacks the folders, symlinks and ELF files of `zip` into `into` (later files replace
/// earlier ones, as layers do) and returns the ELF files written, through lamina-unzip: no
/// entry leaves `into` or is written through a link, and a zip over Lambda's unzipped limit
/// is refused before a byte is written.
fn unzip_elf_files(zip: &Path, into: &Path) -> Result<Vec<PathBuf>> {
    lamina_unzip::unpack(
        zip,
        into,
        lamina_unzip::Keep::FilesStartingWith(is_elf),
        lamina_unzip::MAX_UNZIPPED_BYTES,
    )
    .map_err(|err| Error::ZipRead {
        path: zip.to_owned(),
        message: err.to_string(),
    })
}
