//! What a closure is resolved with ([`ResolveOptions`]) and made of (each [`Library`], how
//! it was found and what happens to it), apart from [`super::Closure`] itself so that the
//! loader's walk (`resolver.rs`) and the report (`mod.rs`) share them without naming each
//! other both ways.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::arch::Arch;
use crate::info::{ElfError, ElfInfo, GlibcVersion};
use crate::provided::ProvidedLibraries;

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
    /// Found nowhere (see the matching [`crate::Problem::MissingLibrary`]).
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
