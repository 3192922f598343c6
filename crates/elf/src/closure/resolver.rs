//! The loader's walk: each program's load graph, every needed name searched in `ld.so`'s
//! order, the result recorded per soname, with the problems found on the way.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::types::{FoundVia, Library, Resolution, ResolveOptions, RootFile};
use crate::check::{Problem, check};
use crate::info::{ElfInfo, FileKind};
use crate::provided::ProvidedKind;
use crate::search_path::{expand_search_path, in_sysroot, read_ld_so_conf, real_path_in};

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

pub(super) struct Resolver<'o, 'a> {
    options: &'o ResolveOptions<'a>,
    ld_so_conf_dirs: Vec<PathBuf>,
    default_dirs: Vec<PathBuf>,
    /// Parsed files by real path (or the error they gave).
    parsed: HashMap<PathBuf, Result<Rc<ElfInfo>, String>>,
    pub(super) libraries: BTreeMap<String, Library>,
    pub(super) problems: Vec<Problem>,
    /// Sonames of the roots that are shared libraries.
    pub(super) root_sonames: HashMap<String, PathBuf>,
}

impl<'o, 'a> Resolver<'o, 'a> {
    pub(super) fn new(options: &'o ResolveOptions<'a>) -> Self {
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
    pub(super) fn load_program(&mut self, root: &RootFile) {
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
                // Reads only the headers and tables; the message is the I/O error's or
                // the parse's, as it was from the whole file's bytes.
                ElfInfo::parse_file(real_path)
                    .map(Rc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
    }

    /// Reports every root library whose soname the image also provides.
    pub(super) fn report_shadowing(&mut self, roots: &[RootFile]) {
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
