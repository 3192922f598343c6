//! The transitive closure of shared libraries a set of ELF files needs, resolved the way
//! glibc's `ld.so` would, from the files alone (no `ldd`, so it works for a foreign
//! architecture under a sysroot).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use crate::arch::Arch;
use crate::check::{Problem, check};
use crate::info::{ElfError, ElfInfo, FileKind, GlibcVersion};
use crate::provided::{ProvidedKind, ProvidedLibraries};

/// How many symlinks are followed for one path before giving up (the kernel's limit).
const MAX_SYMLINK_HOPS: usize = 40;
/// How deep `include` lines in `ld.so.conf` may nest.
const MAX_LD_SO_CONF_DEPTH: usize = 8;

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

/// A loaded object in one program's load graph, with the object that loaded it.
struct Node {
    /// The path the loader opened it at.
    path: PathBuf,
    /// `$ORIGIN` for its search paths.
    origin: PathBuf,
    info: Rc<ElfInfo>,
    loader: Option<Rc<Node>>,
}

/// What a search for one soname from one object turned up.
enum SearchOutcome {
    Found {
        found_at: PathBuf,
        real_path: PathBuf,
        via: FoundVia,
        info: Rc<ElfInfo>,
    },
    NotFound {
        searched: Vec<PathBuf>,
        wrong_arch: Vec<PathBuf>,
    },
}

struct Resolver<'o, 'a> {
    options: &'o ResolveOptions<'a>,
    ld_so_conf_dirs: Vec<PathBuf>,
    default_dirs: Vec<PathBuf>,
    /// Parsed files by real path (or the error they gave).
    parsed: HashMap<PathBuf, Result<Rc<ElfInfo>, String>>,
    libraries: BTreeMap<String, Library>,
    problems: Vec<Problem>,
    /// Sonames of the roots that are shared libraries.
    root_sonames: HashMap<String, PathBuf>,
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

impl<'o, 'a> Resolver<'o, 'a> {
    fn new(options: &'o ResolveOptions<'a>) -> Self {
        let sysroot = options.sysroot;
        let ld_so_conf_dirs = if options.use_ld_so_conf {
            let mut dirs = Vec::new();
            read_ld_so_conf(sysroot, Path::new("/etc/ld.so.conf"), 0, &mut dirs);
            dirs
        } else {
            Vec::new()
        };
        let default_dirs = options
            .arch
            .default_library_dirs()
            .iter()
            .map(|d| in_sysroot(sysroot, Path::new(d)))
            .collect();
        Resolver {
            options,
            ld_so_conf_dirs,
            default_dirs,
            parsed: HashMap::new(),
            libraries: BTreeMap::new(),
            problems: Vec::new(),
            root_sonames: HashMap::new(),
        }
    }

    /// Loads one root and everything it needs, breadth first, as one process would.
    fn load_program(&mut self, root: &RootFile) {
        let origin = origin_of_root(&root.path, &root.info);
        let node = Rc::new(Node {
            path: root.path.clone(),
            origin,
            info: Rc::new(root.info.clone()),
            loader: None,
        });
        // Sonames already dealt with in this process (true when available): the loader
        // reuses a loaded one, and fails once for a missing one.
        let mut loaded: HashMap<String, bool> = HashMap::new();
        if let Some(soname) = &root.info.soname {
            loaded.insert(soname.clone(), true);
        }
        let mut queue = VecDeque::from([node]);
        while let Some(object) = queue.pop_front() {
            for name in &object.info.needed {
                self.note_needed_by(name, &object.path, &root.path);
                match loaded.get(name) {
                    Some(true) => {
                        // A library that needs the root it is loaded for (a cycle):
                        // make sure it is not left looking unresolved.
                        if let Some(root_path) = self.root_sonames.get(name).cloned() {
                            self.record(name, Resolution::Root(root_path), None);
                        }
                        continue;
                    }
                    Some(false) => {
                        self.note_missing_needer(name, &object.path);
                        continue;
                    }
                    None => {}
                }
                let (child, available) = self.resolve_name(name, &object);
                loaded.insert(name.clone(), available);
                if let Some(child) = child {
                    queue.push_back(child);
                }
            }
        }
    }

    fn note_needed_by(&mut self, soname: &str, by: &Path, root: &Path) {
        let entry = self
            .libraries
            .entry(soname.to_owned())
            .or_insert_with(|| Library {
                soname: soname.to_owned(),
                needed_by: Vec::new(),
                needed_by_roots: Vec::new(),
                resolution: Resolution::Missing,
            });
        if !entry.needed_by.iter().any(|p| p == by) {
            entry.needed_by.push(by.to_owned());
        }
        if !entry.needed_by_roots.iter().any(|p| p == root) {
            entry.needed_by_roots.push(root.to_owned());
        }
    }

    /// Adds `by` to the files named in the missing-library problem for `soname`.
    fn note_missing_needer(&mut self, soname: &str, by: &Path) {
        for problem in &mut self.problems {
            if let Problem::MissingLibrary {
                soname: missing,
                needed_by,
                ..
            } = problem
                && missing == soname
                && !needed_by.iter().any(|p| p == by)
            {
                needed_by.push(by.to_owned());
            }
        }
    }

    /// Decides what happens to `name` needed by `object`; returns the node to descend
    /// into when it is bundled, and whether the library is available at all.
    fn resolve_name(&mut self, name: &str, object: &Rc<Node>) -> (Option<Rc<Node>>, bool) {
        let provided = self.options.provided.kind_of(name);
        let resolution = if provided == Some(ProvidedKind::Glibc) {
            Resolution::Glibc
        } else if let Some(root) = self.root_sonames.get(name) {
            Resolution::Root(root.clone())
        } else if provided == Some(ProvidedKind::System) {
            Resolution::Provided
        } else {
            match self.search(name, object) {
                SearchOutcome::Found {
                    found_at,
                    real_path,
                    via,
                    info,
                } => {
                    let child = Rc::new(Node {
                        path: found_at.clone(),
                        origin: found_at.parent().map(Path::to_owned).unwrap_or_default(),
                        info,
                        loader: Some(Rc::clone(object)),
                    });
                    let resolution = Resolution::Bundled {
                        found_at,
                        real_path,
                        via,
                    };
                    return (self.record(name, resolution, Some(child)), true);
                }
                SearchOutcome::NotFound {
                    searched,
                    wrong_arch,
                } => {
                    let already_missing = self.problems.iter().any(
                        |p| matches!(p, Problem::MissingLibrary { soname, .. } if soname == name),
                    );
                    if already_missing {
                        self.note_missing_needer(name, &object.path);
                    } else {
                        self.problems.push(Problem::MissingLibrary {
                            soname: name.to_owned(),
                            needed_by: vec![object.path.clone()],
                            searched,
                            wrong_arch_candidates: wrong_arch,
                        });
                    }
                    self.record(name, Resolution::Missing, None);
                    return (None, false);
                }
            }
        };
        (self.record(name, resolution, None), true)
    }

    /// Stores a resolution; a bundled library that was already bundled from a different
    /// file is a conflict (the first one stays). Returns `child` when the library is new.
    fn record(
        &mut self,
        name: &str,
        resolution: Resolution,
        child: Option<Rc<Node>>,
    ) -> Option<Rc<Node>> {
        let library = self
            .libraries
            .entry(name.to_owned())
            .or_insert_with(|| Library {
                soname: name.to_owned(),
                needed_by: Vec::new(),
                needed_by_roots: Vec::new(),
                resolution: Resolution::Missing,
            });
        match (&library.resolution, &resolution) {
            (Resolution::Missing, _) => {
                library.resolution = resolution;
            }
            (
                Resolution::Bundled {
                    real_path: kept, ..
                },
                Resolution::Bundled {
                    real_path: other, ..
                },
            ) => {
                if kept != other {
                    let problem = Problem::ConflictingCopies {
                        soname: name.to_owned(),
                        kept: kept.clone(),
                        dropped: other.clone(),
                    };
                    if !self.problems.contains(&problem) {
                        self.problems.push(problem);
                    }
                }
                // Its needs are already in the closure; but a different file may need
                // more, so still descend into a new copy.
                return child.filter(|_| kept != other);
            }
            _ => return None,
        }
        // First time bundled: check the file itself.
        if let (Resolution::Bundled { found_at, .. }, Some(child)) = (&library.resolution, &child) {
            let problems = check(
                found_at,
                &child.info,
                self.options.arch,
                self.options.max_glibc,
            );
            self.problems.extend(problems);
        }
        child
    }

    /// Searches for `name` needed by `object` in the loader's order.
    fn search(&mut self, name: &str, object: &Rc<Node>) -> SearchOutcome {
        let sysroot = self.options.sysroot;
        let mut candidates: Vec<(PathBuf, FoundVia)> = Vec::new();
        if name.contains('/') {
            // A DT_NEEDED with a slash is opened as a path, no search.
            candidates.push((in_sysroot(sysroot, Path::new(name)), FoundVia::DirectPath));
            return self.try_candidates(candidates, None);
        }
        let has_runpath = !object.info.runpath.is_empty();
        if !has_runpath {
            // DT_RPATH of the needing object, then of each object that loaded it, up to
            // the program. An object with DT_RUNPATH has its DT_RPATH ignored.
            let mut current = Some(Rc::clone(object));
            while let Some(node) = current {
                if node.info.runpath.is_empty() {
                    for dir in expand_search_path(
                        &node.info.rpath,
                        &node.origin,
                        sysroot,
                        self.options.arch,
                    ) {
                        candidates.push((dir, FoundVia::Rpath(node.path.clone())));
                    }
                }
                current = node.loader.clone();
            }
        }
        for dir in self.options.extra_search_dirs {
            candidates.push((dir.clone(), FoundVia::ExtraDir));
        }
        if has_runpath {
            for dir in expand_search_path(
                &object.info.runpath,
                &object.origin,
                sysroot,
                self.options.arch,
            ) {
                candidates.push((dir, FoundVia::Runpath));
            }
        }
        for dir in &self.ld_so_conf_dirs {
            candidates.push((dir.clone(), FoundVia::LdSoConf));
        }
        for dir in &self.default_dirs {
            candidates.push((dir.clone(), FoundVia::DefaultDir));
        }
        let mut seen = Vec::new();
        candidates.retain(|(dir, _)| {
            if seen.contains(dir) {
                false
            } else {
                seen.push(dir.clone());
                true
            }
        });
        self.try_candidates(candidates, Some(name))
    }

    /// Tries each directory (or, with `name` None, each path) in order.
    fn try_candidates(
        &mut self,
        candidates: Vec<(PathBuf, FoundVia)>,
        name: Option<&str>,
    ) -> SearchOutcome {
        let mut searched = Vec::new();
        let mut wrong_arch = Vec::new();
        for (dir, via) in candidates {
            let found_at = match name {
                Some(name) => dir.join(name),
                None => dir.clone(),
            };
            searched.push(dir);
            let Ok(real_path) = real_path_in(self.options.sysroot, &found_at) else {
                continue;
            };
            if !fs::metadata(&real_path)
                .map(|m| m.is_file())
                .unwrap_or(false)
            {
                continue;
            }
            match self.parse_cached(&real_path) {
                Ok(info) if info.arch() == Some(self.options.arch) => {
                    return SearchOutcome::Found {
                        found_at,
                        real_path,
                        via,
                        info,
                    };
                }
                Ok(_) => wrong_arch.push(found_at),
                Err(error) => {
                    let problem = Problem::Unreadable {
                        path: found_at,
                        error,
                    };
                    if !self.problems.contains(&problem) {
                        self.problems.push(problem);
                    }
                }
            }
        }
        SearchOutcome::NotFound {
            searched,
            wrong_arch,
        }
    }

    fn parse_cached(&mut self, real_path: &Path) -> Result<Rc<ElfInfo>, String> {
        self.parsed
            .entry(real_path.to_owned())
            .or_insert_with(|| {
                let bytes = fs::read(real_path).map_err(|e| e.to_string())?;
                ElfInfo::parse(&bytes)
                    .map(Rc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
    }

    /// Reports every root library whose soname the image also provides.
    fn report_shadowing(&mut self, roots: &[RootFile]) {
        for root in roots {
            let Some(soname) = &root.info.soname else {
                continue;
            };
            if self.options.provided.kind_of(soname) != Some(ProvidedKind::System) {
                continue;
            }
            let (needed_by, programs) = self
                .libraries
                .get(soname)
                .map(|lib| (lib.needed_by.clone(), lib.needed_by_roots.clone()))
                .unwrap_or_default();
            self.problems.push(Problem::Shadowed {
                path: root.path.clone(),
                soname: soname.clone(),
                needed_by,
                programs,
            });
        }
    }
}

/// `$ORIGIN` of a file the closure starts from: for a program, the directory of the file
/// with symlinks resolved (the loader reads `/proc/self/exe`); for a library, the
/// directory it is named in.
fn origin_of_root(path: &Path, info: &ElfInfo) -> PathBuf {
    let is_program = info.interpreter.is_some() || info.kind == FileKind::Executable;
    let path = if is_program {
        fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
    } else {
        path.to_owned()
    };
    path.parent().map(Path::to_owned).unwrap_or_default()
}

/// Expands the entries of a `DT_RPATH`/`DT_RUNPATH`: `$ORIGIN` (or `${ORIGIN}`) becomes
/// the object's directory (already a host path), `$LIB` becomes `lib64` and `$PLATFORM`
/// the CPU name; other absolute entries are looked up under the sysroot. Relative entries
/// (relative to the process's working directory, never meaningful on Lambda) are dropped.
fn expand_search_path(
    entries: &[String],
    origin: &Path,
    sysroot: &Path,
    arch: Arch,
) -> Vec<PathBuf> {
    let platform = match arch {
        Arch::X86_64 => "x86_64",
        Arch::Aarch64 => "aarch64",
    };
    entries
        .iter()
        .filter_map(|entry| {
            let uses_origin = entry.contains("$ORIGIN") || entry.contains("${ORIGIN}");
            let origin_text = origin.to_string_lossy();
            let expanded = entry
                .replace("${ORIGIN}", &origin_text)
                .replace("$ORIGIN", &origin_text)
                .replace("${LIB}", "lib64")
                .replace("$LIB", "lib64")
                .replace("${PLATFORM}", platform)
                .replace("$PLATFORM", platform);
            let path = PathBuf::from(expanded);
            if uses_origin {
                Some(normalize(&path))
            } else if path.is_absolute() {
                Some(in_sysroot(sysroot, &path))
            } else {
                None
            }
        })
        .collect()
}

/// Removes `.` and resolves `..` textually, as the loader does for search paths.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `path` (absolute, as the target sees it) on this machine.
fn in_sysroot(sysroot: &Path, path: &Path) -> PathBuf {
    let relative = path.strip_prefix("/").unwrap_or(path);
    sysroot.join(relative)
}

/// Follows every symlink in `path` (a path on this machine under `sysroot`), keeping
/// absolute link targets inside the sysroot, as a chroot would.
pub(crate) fn real_path_in(sysroot: &Path, path: &Path) -> io::Result<PathBuf> {
    if sysroot == Path::new("/") {
        return fs::canonicalize(path);
    }
    let Ok(relative) = path.strip_prefix(sysroot) else {
        return fs::canonicalize(path);
    };
    let mut resolved = PathBuf::new();
    let mut pending: VecDeque<PathBuf> = relative
        .components()
        .map(|c| PathBuf::from(c.as_os_str()))
        .collect();
    let mut hops = 0;
    while let Some(part) = pending.pop_front() {
        match part.components().next() {
            None | Some(Component::RootDir | Component::CurDir | Component::Prefix(_)) => {}
            Some(Component::ParentDir) => {
                resolved.pop();
            }
            Some(Component::Normal(name)) => {
                let on_disk = sysroot.join(&resolved).join(name);
                let metadata = fs::symlink_metadata(&on_disk)?;
                if metadata.file_type().is_symlink() {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(io::Error::other(format!(
                            "{}: more than {MAX_SYMLINK_HOPS} symlinks",
                            path.display()
                        )));
                    }
                    let target = fs::read_link(&on_disk)?;
                    if target.is_absolute() {
                        resolved.clear();
                    }
                    for (i, c) in target.components().enumerate() {
                        pending.insert(i, PathBuf::from(c.as_os_str()));
                    }
                } else {
                    resolved.push(name);
                }
            }
        }
    }
    Ok(sysroot.join(resolved))
}

/// Collects the directories of an `ld.so.conf` file (under the sysroot) and the files it
/// `include`s. Missing or unreadable files contribute nothing, as for the loader.
fn read_ld_so_conf(sysroot: &Path, conf: &Path, depth: usize, dirs: &mut Vec<PathBuf>) {
    if depth > MAX_LD_SO_CONF_DEPTH {
        return;
    }
    let Ok(text) = fs::read_to_string(in_sysroot(sysroot, conf)) else {
        return;
    };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with("hwcap ") {
            continue;
        }
        if let Some(pattern) = line.strip_prefix("include") {
            for pattern in pattern.split_whitespace() {
                let pattern = if Path::new(pattern).is_absolute() {
                    PathBuf::from(pattern)
                } else {
                    conf.parent().unwrap_or(Path::new("/")).join(pattern)
                };
                for file in glob_one_level(sysroot, &pattern) {
                    read_ld_so_conf(sysroot, &file, depth + 1, dirs);
                }
            }
            continue;
        }
        for dir in line.split([':', ',', ' ', '\t']).filter(|d| !d.is_empty()) {
            if Path::new(dir).is_absolute() {
                let dir = in_sysroot(sysroot, Path::new(dir));
                if !dirs.contains(&dir) {
                    dirs.push(dir);
                }
            }
        }
    }
}

/// Expands a `*` in the last component of `pattern` (a target path), sorted as glob(3)
/// sorts. Returns target paths.
fn glob_one_level(sysroot: &Path, pattern: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(file_pattern)) = (pattern.parent(), pattern.file_name()) else {
        return Vec::new();
    };
    let file_pattern = file_pattern.to_string_lossy();
    let Some((prefix, suffix)) = file_pattern.split_once('*') else {
        return vec![pattern.to_owned()];
    };
    let Ok(entries) = fs::read_dir(in_sysroot(sysroot, dir)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            (name.len() >= prefix.len() + suffix.len()
                && name.starts_with(prefix)
                && name.ends_with(suffix))
            .then(|| dir.join(name))
        })
        .collect();
    files.sort();
    files
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    #[test]
    fn origin_expansion_and_sysroot_prefixing() {
        let dirs = expand_search_path(
            &[
                "$ORIGIN/../lib".to_owned(),
                "${ORIGIN}".to_owned(),
                "/usr/lib/foo".to_owned(),
                "relative/dir".to_owned(),
                "/opt/$LIB".to_owned(),
            ],
            Path::new("/build/bin"),
            Path::new("/sysroot"),
            Arch::Aarch64,
        );
        assert_eq!(
            dirs,
            vec![
                PathBuf::from("/build/lib"),
                PathBuf::from("/build/bin"),
                PathBuf::from("/sysroot/usr/lib/foo"),
                PathBuf::from("/sysroot/opt/lib64"),
            ]
        );
    }

    #[test]
    fn symlinks_stay_inside_the_sysroot() {
        let root = tempfile::tempdir().unwrap();
        let lib = root.path().join("usr/lib");
        fs::create_dir_all(&lib).unwrap();
        fs::write(lib.join("libz.so.1.3"), b"x").unwrap();
        std::os::unix::fs::symlink("libz.so.1.3", lib.join("libz.so.1")).unwrap();
        // Absolute target: resolved inside the sysroot, not on this machine.
        std::os::unix::fs::symlink("/usr/lib/libz.so.1", lib.join("libz.so")).unwrap();
        std::os::unix::fs::symlink("usr/lib", root.path().join("lib")).unwrap();
        let real = real_path_in(root.path(), &root.path().join("lib/libz.so")).unwrap();
        assert_eq!(real, lib.join("libz.so.1.3"));
        // A loop is an error, not a hang.
        std::os::unix::fs::symlink("loop2", lib.join("loop1")).unwrap();
        std::os::unix::fs::symlink("loop1", lib.join("loop2")).unwrap();
        assert!(real_path_in(root.path(), &lib.join("loop1")).is_err());
    }

    #[test]
    fn ld_so_conf_includes_are_followed() {
        let root = tempfile::tempdir().unwrap();
        let etc = root.path().join("etc");
        fs::create_dir_all(etc.join("ld.so.conf.d")).unwrap();
        fs::write(
            etc.join("ld.so.conf"),
            "# comment\ninclude /etc/ld.so.conf.d/*.conf\n/usr/local/lib\n",
        )
        .unwrap();
        fs::write(etc.join("ld.so.conf.d/b.conf"), "/opt/b\n").unwrap();
        fs::write(etc.join("ld.so.conf.d/a.conf"), "/opt/a # trailing\n").unwrap();
        fs::write(etc.join("ld.so.conf.d/ignored.txt"), "/nope\n").unwrap();
        let mut dirs = Vec::new();
        read_ld_so_conf(root.path(), Path::new("/etc/ld.so.conf"), 0, &mut dirs);
        assert_eq!(
            dirs,
            vec![
                root.path().join("opt/a"),
                root.path().join("opt/b"),
                root.path().join("usr/local/lib"),
            ]
        );
    }
}
