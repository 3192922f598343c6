//! The transitive closure of shared libraries a set of ELF files needs, resolved the way
//! glibc's `ld.so` would, from the files alone (no `ldd`, so it works for a foreign
//! architecture under a sysroot).

mod resolver;
mod types;

use std::fmt;
use std::path::Path;

use crate::arch::Arch;
use crate::check::{Problem, check};
use crate::info::{ElfFileError, ElfInfo, FileKind, GlibcVersion};
use crate::provided::ProvidedKind;
use resolver::Resolver;
pub use types::{FoundVia, Library, Resolution, ResolveError, ResolveOptions, RootFile};

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
            // Only the headers and tables, never the whole file: a root may be huge.
            let info = ElfInfo::parse_file(path).map_err(|error| match error {
                ElfFileError::Io(source) => ResolveError::Read {
                    path: path.to_owned(),
                    source,
                },
                ElfFileError::Elf(source) => ResolveError::Elf {
                    path: path.to_owned(),
                    source,
                },
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
