//! Reads ELF files without running them and works out which shared libraries a Lambda
//! layer must carry.
//!
//! - [`ElfInfo::parse`]: machine, class, type, interpreter, `DT_SONAME`, `DT_NEEDED`,
//!   `DT_RPATH`/`DT_RUNPATH`, and the symbol versions needed (`GLIBC_2.xx`), from bytes.
//!   Bad input is an [`ElfError`], never a panic.
//! - [`Closure::resolve`]: the transitive closure of shared libraries a set of programs and
//!   libraries need, resolved in the loader's order from the files alone (so it works for
//!   arm64 files under a sysroot on an x86_64 machine), each library marked bundled,
//!   provided by the image, glibc, or missing, plus every [`Problem`] found.
//! - [`check`]: one file against a target (architecture, glibc version, interpreter).
//! - [`ProvidedLibraries::al2023`]: what `provided.al2023` already has (data in
//!   `crates/elf/data/`).
//! - [`set_rpath`]: an in-place `DT_RPATH` edit so a bundled library wins over the system
//!   copy (see the [`rpath`] module for when that is impossible and what to do instead).
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
mod info;
mod provided;
pub mod rpath;

pub use arch::{Arch, UnknownArch};
pub use check::{Problem, check};
pub use closure::{Closure, FoundVia, Library, Resolution, ResolveError, ResolveOptions, RootFile};
pub use info::{
    ElfClass, ElfError, ElfInfo, FileKind, GlibcVersion, MAX_SYMBOLS_PER_VERSION, VersionNeed,
};
pub use provided::{ProvidedKind, ProvidedLibraries, ProvidedListError};
pub use rpath::{RpathEdit, RpathError, set_rpath};

/// True when `bytes` start like an ELF file (the `\x7fELF` magic); a cheap filter before
/// [`ElfInfo::parse`] when walking a tree that also holds scripts and data.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}
