//! Byte-reproducible Lambda zips: the same inputs give the same zip, byte
//! for byte, on any machine, in any folder, with any umask, so "sha256
//! unchanged" means "nothing to upload".
//!
//! The pieces, in the order a build uses them:
//! - [`Spec`]: a `layer.toml` / `package.toml` naming files of the
//!   repository, built binaries and generated files (format in `layers/README.md`);
//! - [`Spec::add_pip_into`]: `[[pip]]` requirements as wheels for the layer's architecture,
//!   under `python/`, normalised so rebuilds give the same bytes;
//! - [`add_elf_files`]: `[[elf]]` programs and libraries of the build machine with the
//!   closure of libraries they need, minus what `provided.al2023` has;
//! - [`Tree`]: the future `/opt` or task root, every destination checked
//!   (no absolute paths, no `..`, no symlink leaving the tree, no non-UTF-8
//!   names, no two sources for one path);
//! - [`build`]: plans the entries (sorted bytewise, hashed), skips the
//!   write when the inputs digest is unchanged, otherwise writes the zip
//!   ([`write_zip`]) and its [`Manifest`] to temporary files, checks the
//!   [`Limits`], and renames them into place;
//! - [`check_tree`] / [`check_zip`]: every ELF file for the right architecture,
//!   glibc <= 2.34, every needed library found, none shadowed by the image;
//! - [`leave_out_layer_files`]: a function's files its layers already carry.
//!
//! Zip rules: one timestamp ([`SourceDateEpoch`], clamped to 1980 or
//! later); made-by Unix with the mode in the external attributes (folders
//! and executables 0755, other files 0644, symlinks 0120777); no extra
//! fields; files deflated at level 9 by zlib-rs, folders and symlinks
//! stored; an explicit entry for every folder, including implied parents.

#![cfg_attr(test, allow(clippy::unwrap_used))] // Tests fail loudly on purpose.

mod architecture;
mod build;
mod dedup;
mod digest;
mod elf;
mod elfcheck;
mod epoch;
mod error;
mod limits;
mod manifest;
mod path;
mod pip;
mod pip_errors;
mod pip_record;
mod report;
mod spec;
mod tree;
mod zipfile;

pub use architecture::Architecture;
pub use build::{BuildOptions, Built, LayerUsage, Mode, Status, build, zip_folder, zip_sha256};
pub use dedup::{DedupReport, LeftOut, leave_out_layer_files};
pub use elf::{
    ElfBundle, ElfOptions, ElfSpec, ElfTarget, PlacedFile, RpathFix, add_elf_files, elf_arch,
    library_dir,
};
pub use elfcheck::{ElfCheck, check_tree, check_zip};
pub use epoch::SourceDateEpoch;
pub use error::{Error, Result};
pub use limits::Limits;
pub use manifest::{
    Artifact, ArtifactKind, DEFAULT_RUNTIME, Manifest, ManifestEntry, manifest_path,
};
pub use path::TreePath;
pub use pip::{PipInstall, PipOptions, PipSpec, python_dir};
pub use report::{Row, render_table};
pub use spec::{BinarySpec, BuiltBinaries, CopySpec, GeneratedSpec, Spec, SymlinkSpec};
pub use tree::{Content, EntryKind, FileMode, Node, PlannedEntry, Tree};
pub use zipfile::{COMPRESSION, write_zip};
