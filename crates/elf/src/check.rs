//! Checks on one ELF file against a Lambda target, and the problems a closure can have.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::arch::Arch;
use crate::info::{ElfInfo, GlibcVersion};

/// Something that would make a layer fail on Lambda. Each message names the file at fault
/// and says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The file is not for the target architecture: Lambda fails with
    /// `cannot execute binary file` or `wrong ELF class`.
    WrongArchitecture {
        /// The file.
        path: PathBuf,
        /// What it is built for, e.g. `x86_64`.
        found: String,
        /// What the layer targets.
        expected: Arch,
    },
    /// The file needs a glibc symbol version newer than the image's glibc: Lambda fails
    /// with `version 'GLIBC_2.38' not found`.
    GlibcTooNew {
        /// The file.
        path: PathBuf,
        /// The newest glibc version it needs.
        needs: GlibcVersion,
        /// The symbol-version name that needs it, e.g. `GLIBC_2.38`.
        version_name: String,
        /// The library the version is needed from, e.g. `libc.so.6`.
        from_library: String,
        /// Some of the symbols bound to that version (may be empty).
        symbols: Vec<String>,
        /// The image's glibc.
        limit: GlibcVersion,
    },
    /// A needed library was found nowhere: Lambda fails with
    /// `libfoo.so.1: cannot open shared object file`.
    MissingLibrary {
        /// The `DT_NEEDED` name.
        soname: String,
        /// The files that need it.
        needed_by: Vec<PathBuf>,
        /// Every directory looked in, in search order.
        searched: Vec<PathBuf>,
        /// Files with that name that were skipped because they are for another
        /// architecture.
        wrong_arch_candidates: Vec<PathBuf>,
    },
    /// A bundled library has a soname the image also provides: Lambda's
    /// `LD_LIBRARY_PATH` puts `/lib64` before `/opt/lib`, so the system copy wins unless
    /// the programs that need it carry a `DT_RPATH` of `/opt/lib`.
    Shadowed {
        /// The bundled library.
        path: PathBuf,
        /// Its soname.
        soname: String,
        /// The files in the closure that need it directly.
        needed_by: Vec<PathBuf>,
        /// The programs (files the closure started from) whose loading needs it: these
        /// are the files that need `DT_RPATH=/opt/lib` ([`crate::set_rpath`]).
        programs: Vec<PathBuf>,
    },
    /// A file names glibc or its loader as something to bundle; a copy from the build
    /// machine never matches the image's loader.
    BundlesGlibc {
        /// The file.
        path: PathBuf,
        /// Its soname.
        soname: String,
    },
    /// An executable asks for a program interpreter other than glibc's loader for the
    /// target (e.g. musl's or a Nix store path), which the image does not have.
    UnexpectedInterpreter {
        /// The executable.
        path: PathBuf,
        /// Its `PT_INTERP`.
        interpreter: String,
        /// The loader the image has.
        expected: &'static str,
    },
    /// A file that should be read could not be: unreadable, not ELF, or malformed.
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        error: String,
    },
    /// Two files in the closure have the same soname but are different files: only one
    /// can be `/opt/lib/<soname>`.
    ConflictingCopies {
        /// The soname.
        soname: String,
        /// The copy that is bundled.
        kept: PathBuf,
        /// The copy that was left out.
        dropped: PathBuf,
    },
}

impl Problem {
    /// The message with every path passed through `show`, e.g. to make paths relative.
    pub fn render(&self, show: &dyn Fn(&Path) -> String) -> String {
        let list = |paths: &[PathBuf]| paths.iter().map(|p| show(p)).collect::<Vec<_>>().join(", ");
        match self {
            Problem::WrongArchitecture {
                path,
                found,
                expected,
            } => format!(
                "{}: built for {found}, but the layer targets {expected}; Lambda would fail \
                 with \"cannot execute binary file\". Fix: use the {expected} build of this \
                 file (build it for {} or take it from the {expected} package).",
                show(path),
                expected.multiarch_triplet()
            ),
            Problem::GlibcTooNew {
                path,
                needs,
                version_name,
                from_library,
                symbols,
                limit,
            } => {
                let via = if symbols.is_empty() {
                    String::new()
                } else {
                    format!(", used by {}", symbols.join(", "))
                };
                format!(
                    "{}: needs glibc {needs} ({version_name} from {from_library}{via}), but \
                     Amazon Linux 2023 has glibc {limit}; Lambda would fail with \"version \
                     `{version_name}' not found\". Fix: build it on a system with glibc \
                     {limit} or older (e.g. an Amazon Linux 2023 container), or link it \
                     statically (musl).",
                    show(path)
                )
            }
            Problem::MissingLibrary {
                soname,
                needed_by,
                searched,
                wrong_arch_candidates,
            } => {
                let mut message = format!(
                    "{soname}: needed by {}, found in none of: {}; Lambda would fail with \
                     \"{soname}: cannot open shared object file\".",
                    list(needed_by),
                    if searched.is_empty() {
                        "(no directories)".to_owned()
                    } else {
                        list(searched)
                    }
                );
                if !wrong_arch_candidates.is_empty() {
                    message.push_str(&format!(
                        " Skipped copies for another architecture: {}.",
                        list(wrong_arch_candidates)
                    ));
                }
                message.push_str(
                    " Fix: install the package that provides it on the build machine (or in \
                     the sysroot), or add its directory to the layer spec's library search \
                     directories.",
                );
                message
            }
            Problem::Shadowed {
                path,
                soname,
                needed_by,
                programs,
            } => format!(
                "{}: bundled as /opt/lib/{soname}, but Amazon Linux 2023 also has {soname} in \
                 /lib64, which Lambda's LD_LIBRARY_PATH searches first, so the system copy is \
                 loaded instead. Needed by: {}. Fix: give {} a DT_RPATH of /opt/lib (lamina_elf::set_rpath, or `patchelf --force-rpath \
                 --set-rpath /opt/lib`), or start them with /opt/lib first on \
                 LD_LIBRARY_PATH; or drop the bundled copy and use the system one.",
                show(path),
                if needed_by.is_empty() {
                    "(nothing in the closure)".to_owned()
                } else {
                    list(needed_by)
                },
                if programs.is_empty() {
                    "the programs that need it".to_owned()
                } else {
                    list(programs)
                }
            ),
            Problem::BundlesGlibc { path, soname } => format!(
                "{}: is {soname}, part of glibc; a layer must never ship glibc or its loader \
                 (it would not match the image's ld.so). Fix: remove it from the layer spec.",
                show(path)
            ),
            Problem::UnexpectedInterpreter {
                path,
                interpreter,
                expected,
            } => format!(
                "{}: asks for the program interpreter {interpreter}, which Amazon Linux 2023 \
                 does not have (it has {expected}); Lambda would fail with \"No such file or \
                 directory\". Fix: build it against glibc, or link it statically.",
                show(path)
            ),
            Problem::Unreadable { path, error } => format!(
                "{}: cannot be read as an ELF file: {error}. Fix: check that the file is a \
                 complete binary or shared library.",
                show(path)
            ),
            Problem::ConflictingCopies {
                soname,
                kept,
                dropped,
            } => format!(
                "{soname}: two different files have this name ({} and {}); only the first \
                 is bundled as /opt/lib/{soname}. Fix: make every program use the same copy.",
                show(kept),
                show(dropped)
            ),
        }
    }

    /// The file the problem is about (for a missing library, the first file needing it).
    pub fn path(&self) -> Option<&Path> {
        match self {
            Problem::WrongArchitecture { path, .. }
            | Problem::GlibcTooNew { path, .. }
            | Problem::Shadowed { path, .. }
            | Problem::BundlesGlibc { path, .. }
            | Problem::UnexpectedInterpreter { path, .. }
            | Problem::Unreadable { path, .. } => Some(path),
            Problem::MissingLibrary { needed_by, .. } => needed_by.first().map(PathBuf::as_path),
            Problem::ConflictingCopies { dropped, .. } => Some(dropped),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&|p| p.display().to_string()))
    }
}

/// Checks one file on its own: the target architecture, the newest glibc symbol version
/// it needs (at most `max_glibc`), and, for executables, the program interpreter.
/// `path` is only used to name the file in the problems.
pub fn check(path: &Path, info: &ElfInfo, arch: Arch, max_glibc: GlibcVersion) -> Vec<Problem> {
    let mut problems = Vec::new();
    if info.arch() != Some(arch) {
        problems.push(Problem::WrongArchitecture {
            path: path.to_owned(),
            found: info.machine_name(),
            expected: arch,
        });
        // Versions and interpreter of a foreign binary say nothing useful.
        return problems;
    }
    if let Some((needs, need)) = info.newest_glibc()
        && needs > max_glibc
    {
        problems.push(Problem::GlibcTooNew {
            path: path.to_owned(),
            needs,
            version_name: need.version.clone(),
            from_library: need.file.clone(),
            symbols: need.symbols.clone(),
            limit: max_glibc,
        });
    }
    if let Some(interpreter) = &info.interpreter {
        let expected = arch.glibc_interpreter();
        // Debian links aarch64 programs against /lib/ld-linux-aarch64.so.1 and x86_64
        // ones against /lib64/ld-linux-x86-64.so.2; Amazon Linux has both spellings.
        let file_name = Path::new(interpreter).file_name();
        let same_loader = file_name == Path::new(expected).file_name()
            && matches!(
                Path::new(interpreter).parent().and_then(Path::to_str),
                Some("/lib" | "/lib64" | "/usr/lib" | "/usr/lib64")
            );
        if !same_loader {
            problems.push(Problem::UnexpectedInterpreter {
                path: path.to_owned(),
                interpreter: interpreter.clone(),
                expected,
            });
        }
    }
    problems
}
