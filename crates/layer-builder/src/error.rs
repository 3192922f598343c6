//! Every way assembling a tree or writing a zip can fail, each naming the
//! path, artifact or number at fault.

use std::io;
use std::path::PathBuf;

/// An error from assembling a tree, writing a zip or its manifest, or
/// checking Lambda's limits. The message names the path or artifact at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A destination inside the tree starts with `/`.
    #[error("`{path}` is absolute: paths in the tree are relative to its root")]
    AbsolutePath { path: String },

    /// A destination has a `..` component.
    #[error("`{path}` contains `..`: paths may not climb out of the tree")]
    ParentComponent { path: String },

    /// A destination is empty, or names the root where a file is needed.
    #[error("`{path}` is empty: a file needs a name inside the tree")]
    EmptyPath { path: String },

    /// A name has a character zip readers treat differently (`\` or NUL).
    #[error("`{path}` contains {what}: zip readers would not agree on that name")]
    UnportableName { path: String, what: &'static str },

    /// A file name on disk is not UTF-8; zip entry names must be.
    #[error("`{}` is not valid UTF-8: zip entry names must be UTF-8", path.display())]
    NonUtf8Name { path: PathBuf },

    /// A source named by a spec is absolute or lies outside the source root.
    #[error("source `{path}` is outside `{}`: sources must be inside the repository (a file or folder of the build machine needs an absolute path and `host = true` in its [[copy]])", root.display())]
    SourceOutsideRoot { path: String, root: PathBuf },

    /// A `[[copy]]` with `host = true` names a relative path or one with `..`.
    #[error(
        "[[copy]] `{path}` has `host = true`, so it must be an absolute path of the build machine without `..` (e.g. /usr/share/perl/5.36.0); a file of the repository needs no `host`"
    )]
    HostSourceNotAbsolute { path: String },

    /// A symlink inside a host folder being copied resolves outside that folder.
    #[error("symlink `{}` -> `{target}` leaves `{}`, the build machine's folder being copied: once unpacked it would point at something else or at nothing. Copy what it points at with a [[copy]] of its own", link.display(), root.display())]
    HostSymlinkEscapes {
        link: PathBuf,
        target: String,
        root: PathBuf,
    },

    /// A symlink in a folder shipped whole (a script function's) resolves outside the project:
    /// following it would ship a file of the build machine nobody asked for.
    #[error("symlink `{}` -> `{target}` leads out of the project ({}), to `{}`: it would ship a file of this machine, not of the project. Copy what it points at into the project, or ship it on purpose with a [[copy]] of it with `host = true`", link.display(), root.display(), resolved.display())]
    SymlinkLeavesProject {
        link: PathBuf,
        target: String,
        resolved: PathBuf,
        root: PathBuf,
    },

    /// A symlink's target is absolute or resolves above the tree's root.
    #[error("symlink `{path}` -> `{target}` points outside the tree")]
    SymlinkLeavesTree { path: String, target: String },

    /// A symlink's target resolves to nothing in the tree.
    #[error("symlink `{path}` -> `{target}` points at nothing in the tree")]
    DanglingSymlink { path: String, target: String },

    /// Following a symlink went round in circles.
    #[error("symlink `{path}` -> `{target}` loops")]
    SymlinkLoop { path: String, target: String },

    /// Two sources would write the same destination.
    #[error("`{path}` has two sources: {first} and {second}")]
    DuplicateDestination {
        path: String,
        first: String,
        second: String,
    },

    /// A destination needs a folder where another source put a file or symlink.
    #[error("`{path}` needs `{parent}` to be a folder, but `{parent}` comes from {parent_origin}")]
    ParentNotAFolder {
        path: String,
        parent: String,
        parent_origin: String,
    },

    /// A generated file's mode is not one of the two a reproducible zip holds.
    #[error("`{path}` has mode {mode:#o}: generated files are 0o644 or 0o755")]
    InvalidMode { path: String, mode: u32 },

    /// A source is neither a file, a folder nor a symlink.
    #[error("`{}` is not a regular file, folder or symlink", path.display())]
    UnsupportedFileType { path: PathBuf },

    /// A `[[binary]]` of a spec was not handed over as a built path.
    #[error("binary `{bin}` of package `{package}` was not built (destination `{path}`)")]
    BinaryNotBuilt {
        package: String,
        bin: String,
        path: String,
    },

    /// A spec file could not be parsed.
    #[error("{}: {message}", path.display())]
    Spec { path: PathBuf, message: String },

    /// A value of a spec file is refused; names the file, line and key.
    #[error("{}:{line}: `{key}`: {message}", path.display())]
    SpecValue {
        path: PathBuf,
        line: usize,
        key: String,
        message: String,
    },

    /// `SOURCE_DATE_EPOCH` is not an integer or lies past what zip can store.
    #[error("SOURCE_DATE_EPOCH `{value}` {problem}")]
    InvalidEpoch {
        value: String,
        problem: &'static str,
    },

    /// A file changed between hashing it and zipping it.
    #[error("`{}` changed while the zip was being written; build again", path.display())]
    SourceChanged { path: PathBuf },

    /// The zip is over the size Lambda accepts as a direct upload.
    #[error(
        "{artifact}: the zip is {size} bytes, over the {limit} bytes Lambda accepts directly (needs S3)"
    )]
    ZipTooLarge {
        artifact: String,
        size: u64,
        limit: u64,
    },

    /// The unzipped content is over Lambda's limit.
    #[error("{artifact}: unzipped size is {size} bytes, over Lambda's limit of {limit} bytes")]
    UnzippedTooLarge {
        artifact: String,
        size: u64,
        limit: u64,
    },

    /// A function with its layers is over Lambda's unzipped limit.
    #[error(
        "{function}: function and its {layers} layers unzip to {size} bytes, over Lambda's limit of {limit} bytes"
    )]
    FunctionWithLayersTooLarge {
        function: String,
        layers: usize,
        size: u64,
        limit: u64,
    },

    /// A function uses more layers than Lambda allows.
    #[error("{function}: uses {count} layers, Lambda allows at most {limit}")]
    TooManyLayers {
        function: String,
        count: usize,
        limit: usize,
    },

    /// `--check` found no artifact on disk to compare with.
    #[error("{artifact}: `{}` does not exist, nothing to check against", path.display())]
    CheckMissing { artifact: String, path: PathBuf },

    /// `--check` rebuilt different bytes from those on disk.
    #[error("{artifact}: rebuilt zip differs from `{}`: on disk sha256 {on_disk}, rebuilt sha256 {rebuilt}", path.display())]
    CheckMismatch {
        artifact: String,
        path: PathBuf,
        on_disk: String,
        rebuilt: String,
    },

    /// An `[[elf]]` source cannot be used.
    #[error("[[elf]] `{from}`: {message}")]
    ElfSource { from: String, message: String },

    /// The `[[elf]]` files and the libraries they need would fail on Lambda.
    #[error(
        "the [[elf]] files would fail on Lambda ({arch}):\n{}\n\nclosure:\n{report}",
        problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
    )]
    ElfClosure {
        arch: crate::architecture::Architecture,
        problems: Vec<String>,
        report: String,
    },

    /// A program could not be given the `DT_RPATH` that makes a bundled library win.
    #[error("`{}`: cannot set DT_RPATH: {message}", path.display())]
    Rpath { path: PathBuf, message: String },

    /// ELF files of an artifact would fail on Lambda.
    #[error("{artifact}: {report}")]
    ElfCheckFailed { artifact: String, report: String },

    /// A zip given to check could not be read.
    #[error("`{}`: not a readable zip: {message}", path.display())]
    ZipRead { path: PathBuf, message: String },

    /// `[[pip]]` cannot run pip: no such Python, no pip module, or a pip older than 23.
    #[error("[[pip]] needs `{python} -m pip` (pip >= 23) on the build machine: {message}")]
    PipUnavailable { python: String, message: String },

    /// `[[pip]]` could not install a requirements file's wheels, or what pip installed
    /// does not match its own RECORD.
    #[error("[[pip]] `{requirements}` for {target}: {message}")]
    Pip {
        requirements: String,
        target: String,
        message: String,
    },

    /// Reading or writing a file failed.
    #[error("{action} `{}`: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    /// The zip library refused an entry.
    #[error("writing zip entry `{entry}`: {source}")]
    Zip {
        entry: String,
        source: zip::result::ZipError,
    },

    /// A manifest could not be encoded or decoded.
    #[error("manifest `{}`: {source}", path.display())]
    Manifest {
        path: PathBuf,
        source: serde_json::Error,
    },
}

impl Error {
    /// Wraps an I/O error with what was being done and to which path.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
