//! Reads ELF files without running them and works out which shared libraries a Lambda
//! layer must carry.
//!
//! - [`ElfInfo::parse`]: machine, class, type, interpreter, `DT_SONAME`, `DT_NEEDED`,
//!   `DT_RPATH`/`DT_RUNPATH`, and the symbol versions needed (`GLIBC_2.xx`), from bytes.
//!   Bad input is an [`ElfError`], never a panic. [`ElfInfo::parse_file`] reads the same
//!   from a file, reading only those tables (a 240 MB program costs a few of its KB).
//! - [`Closure::resolve`]: the transitive closure of shared libraries a set of programs and
//!   libraries need, resolved in the loader's order from the files alone (so it works for
//!   arm64 files under a sysroot on an x86_64 machine), each library marked bundled,
//!   provided by the image, glibc, or missing, plus every [`Problem`] found.
//! - [`check`]: one file against a target (architecture, glibc version, interpreter).
//! - [`ProvidedLibraries::al2023`]: what `provided.al2023` already has (data in
//!   `crates/elf/data/`).
//! - [`al2023_commands`]: the commands `provided.al2023` has on `PATH` (no Python, no
//!   Perl), for a local run that shows a function only those.
//! - [`set_rpath`]: an in-place `DT_RPATH` edit so a bundled library wins over the system
//!   copy (see the [`rpath`] module for when that is impossible and what to do instead).
//!
//! # For a layer builder
//!
//! 1. Resolve the closure of every ELF file the spec names ([`Closure::resolve`]); a root
//!    that is not ELF or unreadable is a [`ResolveError`] naming it ([`is_elf`] filters
//!    a tree first).
//! 2. Copy each [`Closure::bundled`] library's real file to `/opt/lib/<soname>`.
//! 3. Refuse to build while [`Closure::problems`] is not empty, printing
//!    [`Closure::render`] (each problem names the file and the fix). For
//!    [`Problem::Shadowed`], the builder may instead fix it itself: call [`set_rpath`]
//!    with `/opt/lib` on the layer's copy of each file in `programs`; if that returns
//!    [`RpathError::NoRoom`], fall back to what its message says (patchelf, or the
//!    bootstrap putting `/opt/lib` first on `LD_LIBRARY_PATH`).
//!
//! ```no_run
//! use lamina_elf::{Arch, Closure, ProvidedLibraries, ResolveOptions};
//! let provided = ProvidedLibraries::al2023(Arch::X86_64);
//! let options = ResolveOptions::al2023(Arch::X86_64, &provided);
//! let closure = Closure::resolve(&["/usr/bin/perl"], &options)?;
//! for (soname, file) in closure.bundled() {
//!     println!("/opt/lib/{soname} <- {}", file.display());
//! }
//! print!("{closure}");
//! # Ok::<(), lamina_elf::ResolveError>(())
//! ```

mod arch;
mod check;
mod closure;
mod commands;
mod info;
mod parse;
mod provided;
pub mod rpath;
mod search_path;

pub use arch::{Arch, ElfClass, UnknownArch};
pub use check::{Problem, check};
pub use closure::{Closure, FoundVia, Library, Resolution, ResolveError, ResolveOptions, RootFile};
pub use commands::{al2023_commands, al2023_has_command};
pub use info::{
    ElfError, ElfFileError, ElfInfo, FileKind, GlibcVersion, MAX_SYMBOLS_PER_VERSION, VersionNeed,
};
pub use provided::{ProvidedKind, ProvidedLibraries, ProvidedListError};
pub use rpath::{RpathEdit, RpathError, set_rpath};

/// True when `bytes` start like an ELF file (the `\x7fELF` magic); a cheap filter before
/// [`ElfInfo::parse`] when walking a tree that also holds scripts and data.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}
