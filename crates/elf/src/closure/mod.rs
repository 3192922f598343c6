//! The transitive closure of shared libraries a set of ELF files needs, resolved the way
//! glibc's `ld.so` would, from the files alone (no `ldd`, so it works for a foreign
//! architecture under a sysroot).

mod resolver;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::arch::Arch;
use crate::check::{Problem, check};
use crate::info::{ElfError, ElfInfo, FileKind, GlibcVersion};
use crate::provided::{ProvidedKind, ProvidedLibraries};
use resolver::Resolver;

/// Where and how to resolve a closure.
#[derive(Debug, Clone)]
pub struct ResolveOptions<'a> {
    /// The target architecture: files for another one are problems, and library
    /// candidates for another one are skipped, as `ld.so` skips them.
    pub arch: Arch,
    /// The root of the file system the libraries live in: `/` for this machine, or a
    /// directory holding a foreign-architecture tree. Absolute `DT_RPATH`/`DT_RUNPATH`
    /// entries, `ld.so.conf` and the default directories are looked up under it, and
    /// absolute symlinks are followed inside it.
    pub sysroot: &'a Path,
    /// Directories searched like `LD_LIBRARY_PATH`: after the `DT_RPATH`s, before
    /// `DT_RUNPATH`. Used as given (not prefixed with `sysroot`).
    pub extra_search_dirs: &'a [PathBuf],
    /// Libraries the target image provides; they are left out.
    pub provided: &'a ProvidedLibraries,
    /// The newest glibc the target has.
    pub max_glibc: GlibcVersion,
    /// Also search the directories listed in `<sysroot>/etc/ld.so.conf` (and the files it
    /// includes), before the default directories, as the loader's cache would.
    pub use_ld_so_conf: bool,
}

impl<'a> ResolveOptions<'a> {
    /// Options for Lambda's `provided.al2023` on `arch`, resolving on this machine (`/`),
    /// honouring `ld.so.conf`, without extra directories.
    pub fn al2023(arch: Arch, provided: &'a ProvidedLibraries) -> Self {
        ResolveOptions {
            arch,
            sysroot: Path::new("/"),
            extra_search_dirs: &[],
            provided,
            max_glibc: GlibcVersion::AL2023,
            use_ld_so_conf: true,
        }
    }
}

/// A file the closure starts from could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Reading it failed.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// It is not an ELF file, or a malformed one.
    #[error("{path}: {source}")]
    Elf {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: ElfError,
    },
}

/// Which step of the loader's search found a library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FoundVia {
    /// `DT_RPATH` of the named object (the needing one or one that loaded it).
    Rpath(PathBuf),
    /// One of [`ResolveOptions::extra_search_dirs`].
    ExtraDir,
    /// `DT_RUNPATH` of the needing object.
    Runpath,
    /// A directory from `ld.so.conf`.
    LdSoConf,
    /// One of the architecture's default directories.
    DefaultDir,
    /// The `DT_NEEDED` entry is itself a path.
    DirectPath,
}

impl fmt::Display for FoundVia {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FoundVia::Rpath(_) => f.write_str("RPATH"),
            FoundVia::ExtraDir => f.write_str("extra search dir"),
            FoundVia::Runpath => f.write_str("RUNPATH"),
            FoundVia::LdSoConf => f.write_str("ld.so.conf"),
            FoundVia::DefaultDir => f.write_str("default dir"),
            FoundVia::DirectPath => f.write_str("path in DT_NEEDED"),
        }
    }
}

/// What happens to one needed library in the layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Copied into the layer as `/opt/lib/<soname>`, from `real_path`.
    Bundled {
        /// The path the loader would open (a symlink named after the soname, often).
        found_at: PathBuf,
        /// The file behind it, all symlinks followed: the bytes to copy.
        real_path: PathBuf,
        /// Which search step found it.
        via: FoundVia,
    },
    /// One of the files the closure started from has this soname; it is shipped as such.
    Root(PathBuf),
    /// The image provides it: left out.
    Provided,
    /// Part of glibc or its loader: never copied.
    Glibc,
    /// Found nowhere (see the matching [`Problem::MissingLibrary`]).
    Missing,
}

/// One soname some file in the closure needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Library {
    /// The `DT_NEEDED` name; the file name in `/opt/lib`.
    pub soname: String,
    /// The files that need it, in the order they were met.
    pub needed_by: Vec<PathBuf>,
    /// The files the closure started from whose loading needs it (directly or through
    /// other libraries), in the order given.
    pub needed_by_roots: Vec<PathBuf>,
    /// What happens to it.
    pub resolution: Resolution,
}

/// One file the closure starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootFile {
    /// The path as given.
    pub path: PathBuf,
    /// What the file says about itself.
    pub info: ElfInfo,
}

/// The libraries a set of ELF files needs, what happens to each, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closure {
    /// The target architecture.
    pub arch: Arch,
    /// The newest glibc allowed.
    pub max_glibc: GlibcVersion,
    /// The files the closure starts from, in the order given.
    pub roots: Vec<RootFile>,
    /// Every needed soname, sorted by name.
    pub libraries: Vec<Library>,
    /// Everything that would fail on Lambda, in the order found.
    pub problems: Vec<Problem>,
}

impl Closure {
    /// Resolves everything `roots` need, as `ld.so` would load it for each of them on the
    /// target: per needed name, `DT_RPATH` of the needing object and its loaders (when it
    /// has no `DT_RUNPATH`), the extra directories, its `DT_RUNPATH`, `ld.so.conf`, then
    /// the default directories, with `$ORIGIN` expanded and foreign-architecture
    /// candidates skipped. Libraries that are glibc or provided by the image are not
    /// searched. Problems (missing, wrong architecture, glibc too new, shadowed, ...) are
    /// collected in [`Closure::problems`]; only an unreadable root is an error.
    pub fn resolve(
        roots: &[impl AsRef<Path>],
        options: &ResolveOptions<'_>,
    ) -> Result<Closure, ResolveError> {
        let mut resolver = Resolver::new(options);
        let mut root_files = Vec::new();
        for root in roots {
            let path = root.as_ref();
            let bytes = fs::read(path).map_err(|source| ResolveError::Read {
                path: path.to_owned(),
                source,
            })?;
            let info = ElfInfo::parse(&bytes).map_err(|source| ResolveError::Elf {
                path: path.to_owned(),
                source,
            })?;
            root_files.push(RootFile {
                path: path.to_owned(),
                info,
            });
        }
        for root in &root_files {
            if let Some(soname) = &root.info.soname {
                resolver
                    .root_sonames
                    .entry(soname.clone())
                    .or_insert_with(|| root.path.clone());
            }
        }
        for root in &root_files {
            resolver.problems.extend(check(
                &root.path,
                &root.info,
                options.arch,
                options.max_glibc,
            ));
            match root
                .info
                .soname
                .as_deref()
                .and_then(|s| options.provided.kind_of(s).map(|k| (s, k)))
            {
                Some((soname, ProvidedKind::Glibc)) => {
                    resolver.problems.push(Problem::BundlesGlibc {
                        path: root.path.clone(),
                        soname: soname.to_owned(),
                    })
                }
                // Shadowing is reported at the end, once it is known who needs it.
                Some((_, ProvidedKind::System)) | None => {}
            }
            if root.info.arch() == Some(options.arch) {
                resolver.load_program(root);
            }
        }
        resolver.report_shadowing(&root_files);
        Ok(Closure {
            arch: options.arch,
            max_glibc: options.max_glibc,
            roots: root_files,
            libraries: resolver.libraries.into_values().collect(),
            problems: resolver.problems,
        })
    }

    /// True when nothing would fail on Lambda.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The libraries to copy: `(soname, file to copy)`; each goes to `/opt/lib/<soname>`.
    pub fn bundled(&self) -> impl Iterator<Item = (&str, &Path)> {
        self.libraries
            .iter()
            .filter_map(|lib| match &lib.resolution {
                Resolution::Bundled { real_path, .. } => {
                    Some((lib.soname.as_str(), real_path.as_path()))
                }
                _ => None,
            })
    }

    /// The library named `soname`, if anything needs it.
    pub fn library(&self, soname: &str) -> Option<&Library> {
        self.libraries.iter().find(|lib| lib.soname == soname)
    }

    /// A text report: roots, every library with what happens to it, and the problems.
    /// Paths under `base` are shown relative to it (stable across machines and temporary
    /// directories); others are shown as they are.
    pub fn render(&self, base: Option<&Path>) -> String {
        let show = |path: &Path| -> String {
            match base.and_then(|b| path.strip_prefix(b).ok()) {
                Some(rel) if rel.as_os_str().is_empty() => ".".to_owned(),
                Some(rel) => rel.display().to_string(),
                None => path.display().to_string(),
            }
        };
        let mut out = String::new();
        let bundled = self.bundled().count();
        out.push_str(&format!(
            "closure for {} (glibc <= {}): {} root(s), {} librar{} to bundle, {} problem(s)\n",
            self.arch,
            self.max_glibc,
            self.roots.len(),
            bundled,
            if bundled == 1 { "y" } else { "ies" },
            self.problems.len()
        ));
        out.push_str("roots:\n");
        for root in &self.roots {
            let kind = match root.info.kind {
                FileKind::Executable => "executable",
                FileKind::SharedObject if root.info.interpreter.is_some() => "executable (PIE)",
                FileKind::SharedObject => "shared library",
                FileKind::Relocatable => "object file",
                FileKind::Core => "core dump",
                FileKind::Other(_) => "unknown type",
            };
            out.push_str(&format!(
                "  {} [{}, {}]",
                show(&root.path),
                root.info.machine_name(),
                kind
            ));
            if let Some(soname) = &root.info.soname {
                out.push_str(&format!(" soname {soname}"));
            }
            out.push('\n');
        }
        out.push_str("libraries:\n");
        let width = self
            .libraries
            .iter()
            .map(|l| l.soname.len())
            .max()
            .unwrap_or(0);
        for lib in &self.libraries {
            let what = match &lib.resolution {
                Resolution::Bundled {
                    found_at,
                    real_path,
                    via,
                } => {
                    let mut s = format!("bundle   {}", show(found_at));
                    if real_path != found_at {
                        s.push_str(&format!(" -> {}", show(real_path)));
                    }
                    match via {
                        FoundVia::Rpath(of) => s.push_str(&format!(" (RPATH of {})", show(of))),
                        other => s.push_str(&format!(" ({other})")),
                    }
                    s
                }
                Resolution::Root(path) => format!("root     {}", show(path)),
                Resolution::Provided => "provided by the image, left out".to_owned(),
                Resolution::Glibc => "glibc, never copied".to_owned(),
                Resolution::Missing => "MISSING".to_owned(),
            };
            let needed_by = lib
                .needed_by
                .iter()
                .map(|p| show(p))
                .collect::<Vec<_>>()
                .join(", ");
            out.push_str(&format!(
                "  {:width$}  {what}; needed by {needed_by}\n",
                lib.soname
            ));
        }
        if self.problems.is_empty() {
            out.push_str("problems: none\n");
        } else {
            out.push_str("problems:\n");
            for problem in &self.problems {
                out.push_str(&format!("  - {}\n", problem.render(&show)));
            }
        }
        out
    }
}

impl fmt::Display for Closure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(None))
    }
}
