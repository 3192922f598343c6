//! A tree of files to zip: the future `/opt` of a layer or task root of a
//! function, assembled from files and folders on disk, built binaries and
//! generated content, with every destination checked.

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::digest::{hex, sha256_file};
use crate::error::{Error, Result};
use crate::path::TreePath;

/// The two modes a file has in a reproducible zip: anything executable on
/// disk (any `x` bit) becomes 0755, everything else 0644.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileMode {
    /// `0644`.
    Regular,
    /// `0755`.
    Executable,
}

impl FileMode {
    /// The permission bits: `0o644` or `0o755`.
    pub fn bits(self) -> u32 {
        match self {
            FileMode::Regular => 0o644,
            FileMode::Executable => 0o755,
        }
    }

    /// Normalises a mode read from disk: executable if any `x` bit is set.
    pub fn from_disk(mode: u32) -> Self {
        if mode & 0o111 != 0 {
            FileMode::Executable
        } else {
            FileMode::Regular
        }
    }

    /// Accepts exactly `0o644` or `0o755` (a spec's `mode = 0o755`).
    pub fn from_spec(path: &str, mode: u32) -> Result<Self> {
        match mode {
            0o644 => Ok(FileMode::Regular),
            0o755 => Ok(FileMode::Executable),
            _ => Err(Error::InvalidMode {
                path: path.to_owned(),
                mode,
            }),
        }
    }
}

/// Where a file's bytes come from.
#[derive(Clone, Debug)]
pub enum Content {
    /// Read from this path when the zip is written (followed if a symlink).
    Disk(PathBuf),
    /// Held in memory (generated files).
    Inline(Vec<u8>),
}

/// One node of a tree.
#[derive(Clone, Debug)]
pub enum Node {
    /// A folder (mode 0755).
    Folder,
    /// A regular file.
    File { content: Content, mode: FileMode },
    /// A symlink to a relative path that must resolve inside the tree.
    Symlink { target: String },
}

#[derive(Clone, Debug)]
struct Slot {
    node: Node,
    /// Says where the node came from, for "two sources" messages.
    origin: String,
}

/// A tree under construction. Every `add_*` checks its destination; two
/// sources for one path, or a file where a folder is needed, are refused.
/// Symlinks are checked by [`Tree::plan`], once the whole tree is known.
#[derive(Clone, Debug, Default)]
pub struct Tree {
    nodes: BTreeMap<TreePath, Slot>,
}

/// What kind of zip entry a planned entry becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A folder entry (name ends with `/`).
    Folder,
    /// A regular file.
    File,
    /// A symlink; its target is the entry's content.
    Symlink,
}

/// One entry of the zip about to be written, with its content hashed.
#[derive(Clone, Debug)]
pub struct PlannedEntry {
    /// The zip entry name (`lib/`, `lib/libz.so.1`).
    pub name: String,
    /// Folder, file or symlink.
    pub kind: EntryKind,
    /// Permission bits without the file type: 0o755, 0o644 or 0o777 (symlinks).
    pub mode: u32,
    /// Content size in bytes (a symlink's is its target's length; 0 for folders).
    pub size: u64,
    /// SHA-256 of the content, hex (files only).
    pub sha256: Option<String>,
    /// A symlink's target.
    pub target: Option<String>,
    pub(crate) content: Option<Content>,
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `source` (a file, followed if a symlink, or a folder copied
    /// recursively) at `dest`. `dest` may be the root (`.`) for a folder.
    pub fn add_path(&mut self, dest: &str, source: &Path) -> Result<()> {
        let metadata = fs::metadata(source).map_err(|e| Error::io("reading", source, e))?;
        if metadata.is_dir() {
            self.add_folder(dest, source)
        } else if metadata.is_file() {
            let dest = TreePath::parse_non_root(dest)?;
            let mode = FileMode::from_disk(metadata.permissions().mode());
            self.insert(
                dest,
                Node::File {
                    content: Content::Disk(source.to_owned()),
                    mode,
                },
                format!("file `{}`", source.display()),
            )
        } else {
            Err(Error::UnsupportedFileType {
                path: source.to_owned(),
            })
        }
    }

    /// Adds `source`, an entry of `folder` shipped whole (a script function's folder), at
    /// `dest`, never following a symlink out of `root` (the project). A symlink is what a user
    /// may not have looked at: one whose relative target stays inside `folder` stays a symlink
    /// (the manifest lists it with its target; [`Tree::plan`] checks it resolves in the tree);
    /// one that resolves elsewhere inside `root` ships what it points at (as `cp -L`); one that
    /// resolves outside `root` is refused, naming it ([`Error::SymlinkLeavesProject`]), so a
    /// `creds.txt -> ../outside/secret.txt` never reaches a zip. A folder is walked without
    /// following the symlinks inside it, which stay symlinks.
    pub fn add_entry_within(
        &mut self,
        dest: &str,
        source: &Path,
        folder: &Path,
        root: &Path,
    ) -> Result<()> {
        let metadata = fs::symlink_metadata(source).map_err(|e| Error::io("reading", source, e))?;
        if !metadata.file_type().is_symlink() {
            return self.add_path(dest, source);
        }
        let target = fs::read_link(source).map_err(|e| Error::io("reading symlink", source, e))?;
        let resolved = source
            .canonicalize()
            .map_err(|e| Error::io("following symlink", source, e))?;
        let canonical = |path: &Path| {
            path.canonicalize()
                .map_err(|e| Error::io("reading", path, e))
        };
        let root = canonical(root)?;
        let text = || -> Result<String> {
            target
                .to_str()
                .map(str::to_owned)
                .ok_or_else(|| Error::NonUtf8Name {
                    path: source.to_owned(),
                })
        };
        if !resolved.starts_with(&root) {
            return Err(Error::SymlinkLeavesProject {
                link: source.to_owned(),
                target: target.to_string_lossy().into_owned(),
                resolved,
                root,
            });
        }
        if target.is_relative() && resolved.starts_with(canonical(folder)?) {
            return self.add_symlink(dest, &text()?);
        }
        // Canonical: no symlink left on the way, so reading it later reads what was checked.
        self.add_path(dest, &resolved)
    }

    /// Adds a built executable at `dest`, always 0755; `label` names it in
    /// messages (e.g. "binary `sample-hello`/`bootstrap`").
    pub fn add_executable(&mut self, dest: &str, source: &Path, label: &str) -> Result<()> {
        let dest = TreePath::parse_non_root(dest)?;
        let node = Node::File {
            content: Content::Disk(source.to_owned()),
            mode: FileMode::Executable,
        };
        self.insert(dest, node, label.to_owned())
    }

    /// Adds a file with the given content and mode at `dest`.
    pub fn add_bytes(&mut self, dest: &str, content: Vec<u8>, mode: FileMode) -> Result<()> {
        let dest = TreePath::parse_non_root(dest)?;
        self.insert(
            dest,
            Node::File {
                content: Content::Inline(content),
                mode,
            },
            "generated content".into(),
        )
    }

    /// Adds a file with the given content and mode at `dest`; `origin` names
    /// where it came from in "two sources" messages (e.g. "[[elf]] `/usr/bin/jq`").
    pub fn add_file(
        &mut self,
        dest: &str,
        content: Content,
        mode: FileMode,
        origin: &str,
    ) -> Result<()> {
        let dest = TreePath::parse_non_root(dest)?;
        self.insert(dest, Node::File { content, mode }, origin.to_owned())
    }

    /// Removes the file or symlink at `path` and returns it, with the folders
    /// above it that this leaves empty (a zip should not keep a `lib/` whose
    /// files all moved to a layer); folders and paths not in the tree are left
    /// alone (`None`).
    pub fn remove_file(&mut self, path: &str) -> Option<Node> {
        let path = TreePath::parse_non_root(path).ok()?;
        let removed = match self.nodes.get(&path).map(|slot| &slot.node) {
            Some(Node::File { .. } | Node::Symlink { .. }) => {
                self.nodes.remove(&path).map(|slot| slot.node)
            }
            _ => return None,
        };
        let mut parent = path.parent();
        while let Some(folder) = parent.filter(|p| !p.is_root()) {
            let prefix = format!("{folder}/");
            let has_children = self.nodes.keys().any(|p| p.as_str().starts_with(&prefix));
            if has_children {
                break;
            }
            self.nodes.remove(&folder);
            parent = folder.parent();
        }
        removed
    }

    /// Adds a symlink at `dest` pointing at `target`, which must be relative
    /// and (checked by [`Tree::plan`]) resolve to something in the tree.
    pub fn add_symlink(&mut self, dest: &str, target: &str) -> Result<()> {
        let dest = TreePath::parse_non_root(dest)?;
        self.insert_symlink(dest, target.to_owned(), format!("symlink to `{target}`"))
    }

    /// Adds an empty folder at `dest`.
    pub fn add_empty_folder(&mut self, dest: &str) -> Result<()> {
        let dest = TreePath::parse_non_root(dest)?;
        self.insert(dest, Node::Folder, "an empty folder".into())
    }

    /// Like [`Tree::add_path`], leaving out every file, symlink or folder (with its contents)
    /// inside a source folder for which `skip` is true.
    pub fn add_path_except(
        &mut self,
        dest: &str,
        source: &Path,
        skip: &dyn Fn(&Path) -> bool,
    ) -> Result<()> {
        if source.is_dir() {
            self.add_folder_except(dest, source, skip)
        } else {
            self.add_path(dest, source)
        }
    }

    /// Copies the folder `source` to `dest` (`.` for the root). Symlinks
    /// inside are kept as symlinks; names must be UTF-8.
    pub fn add_folder(&mut self, dest: &str, source: &Path) -> Result<()> {
        self.add_folder_except(dest, source, &|_| false)
    }

    fn add_folder_except(
        &mut self,
        dest: &str,
        source: &Path,
        skip: &dyn Fn(&Path) -> bool,
    ) -> Result<()> {
        let dest = TreePath::parse(dest)?;
        if !dest.is_root() {
            self.insert(
                dest.clone(),
                Node::Folder,
                format!("folder `{}`", source.display()),
            )?;
        }
        // Sorted walking only makes errors deterministic; the zip is sorted anyway.
        for entry in walkdir::WalkDir::new(source)
            .min_depth(1)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|entry| !skip(entry.path()))
        {
            let entry = entry.map_err(|e| {
                let path = e.path().unwrap_or(source).to_owned();
                let io = e
                    .into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("walking failed"));
                Error::io("reading", path, io)
            })?;
            let relative = entry.path().strip_prefix(source).unwrap_or(entry.path());
            let mut path = dest.clone();
            for component in relative.components() {
                let name = component
                    .as_os_str()
                    .to_str()
                    .ok_or_else(|| Error::NonUtf8Name {
                        path: entry.path().to_owned(),
                    })?;
                path = path.child(name)?;
            }
            let origin = format!("`{}`", entry.path().display());
            let file_type = entry.file_type();
            if file_type.is_dir() {
                self.insert(path, Node::Folder, format!("folder {origin}"))?;
            } else if file_type.is_file() {
                let metadata = entry.metadata().map_err(|e| {
                    let io = e
                        .into_io_error()
                        .unwrap_or_else(|| std::io::Error::other("stat failed"));
                    Error::io("reading", entry.path(), io)
                })?;
                let mode = FileMode::from_disk(metadata.permissions().mode());
                let node = Node::File {
                    content: Content::Disk(entry.path().to_owned()),
                    mode,
                };
                self.insert(path, node, format!("file {origin}"))?;
            } else if file_type.is_symlink() {
                let target = fs::read_link(entry.path())
                    .map_err(|e| Error::io("reading symlink", entry.path(), e))?;
                let target = target
                    .to_str()
                    .ok_or_else(|| Error::NonUtf8Name {
                        path: entry.path().to_owned(),
                    })?
                    .to_owned();
                self.insert_symlink(path, target, format!("symlink {origin}"))?;
            } else {
                return Err(Error::UnsupportedFileType {
                    path: entry.path().to_owned(),
                });
            }
        }
        Ok(())
    }

    fn insert_symlink(&mut self, dest: TreePath, target: String, origin: String) -> Result<()> {
        if target.starts_with('/') || target.is_empty() {
            return Err(Error::SymlinkLeavesTree {
                path: dest.to_string(),
                target,
            });
        }
        self.insert(dest, Node::Symlink { target }, origin)
    }

    fn insert(&mut self, path: TreePath, node: Node, origin: String) -> Result<()> {
        for ancestor in path.ancestors() {
            match self.nodes.get(&ancestor) {
                Some(Slot {
                    node: Node::Folder, ..
                }) => {}
                Some(slot) => {
                    return Err(Error::ParentNotAFolder {
                        path: path.to_string(),
                        parent: ancestor.to_string(),
                        parent_origin: slot.origin.clone(),
                    });
                }
                None => {
                    let origin = format!("the folder of `{path}`");
                    self.nodes.insert(
                        ancestor,
                        Slot {
                            node: Node::Folder,
                            origin,
                        },
                    );
                }
            }
        }
        match self.nodes.get(&path) {
            // A folder met twice (two copies into `lib/`) merges.
            Some(Slot {
                node: Node::Folder, ..
            }) if matches!(node, Node::Folder) => Ok(()),
            Some(existing) => Err(Error::DuplicateDestination {
                path: path.to_string(),
                first: existing.origin.clone(),
                second: origin,
            }),
            None => {
                self.nodes.insert(path, Slot { node, origin });
                Ok(())
            }
        }
    }

    /// Number of nodes (folders included).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node at `path`, if any.
    pub fn get(&self, path: &str) -> Option<&Node> {
        TreePath::parse(path)
            .ok()
            .and_then(|p| self.nodes.get(&p))
            .map(|slot| &slot.node)
    }

    /// Checks every symlink (it must resolve inside the tree), reads and
    /// hashes every file, and returns the zip's entries sorted bytewise by
    /// entry name.
    pub fn plan(&self) -> Result<Vec<PlannedEntry>> {
        let mut entries = Vec::with_capacity(self.nodes.len());
        for (path, slot) in &self.nodes {
            let entry = match &slot.node {
                Node::Folder => PlannedEntry {
                    name: format!("{path}/"),
                    kind: EntryKind::Folder,
                    mode: 0o755,
                    size: 0,
                    sha256: None,
                    target: None,
                    content: None,
                },
                Node::File { content, mode } => {
                    let (size, sha256) = hash_content(content)?;
                    PlannedEntry {
                        name: path.to_string(),
                        kind: EntryKind::File,
                        mode: mode.bits(),
                        size,
                        sha256: Some(sha256),
                        target: None,
                        content: Some(content.clone()),
                    }
                }
                Node::Symlink { target } => {
                    self.resolve_symlink(path, target)?;
                    PlannedEntry {
                        name: path.to_string(),
                        kind: EntryKind::Symlink,
                        mode: 0o777,
                        size: target.len() as u64,
                        sha256: None,
                        target: Some(target.clone()),
                        content: None,
                    }
                }
            };
            entries.push(entry);
        }
        // Entry names, not paths, are the sort key: `a/` must sort where its
        // name does (`a.txt` < `a/` < `a/b`), bytewise.
        entries.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        Ok(entries)
    }

    /// Resolves a symlink the way the kernel would once the tree is unpacked,
    /// following symlinks met on the way, and fails if it climbs above the
    /// root, loops, or ends at nothing.
    fn resolve_symlink(&self, link: &TreePath, target: &str) -> Result<()> {
        const MAX_HOPS: usize = 40;
        let leaves = || Error::SymlinkLeavesTree {
            path: link.to_string(),
            target: target.to_owned(),
        };
        let dangling = || Error::DanglingSymlink {
            path: link.to_string(),
            target: target.to_owned(),
        };
        let mut folder: Vec<String> = link
            .parent()
            .map(|p| p.components().map(str::to_owned).collect())
            .unwrap_or_default();
        let mut pending: VecDeque<String> = target.split('/').map(str::to_owned).collect();
        let mut hops = 0;
        while let Some(part) = pending.pop_front() {
            match part.as_str() {
                "" | "." => continue,
                ".." => {
                    folder.pop().ok_or_else(leaves)?;
                    continue;
                }
                _ => {}
            }
            folder.push(part);
            let here = TreePath::parse(&folder.join("/")).map_err(|_| dangling())?;
            match self.nodes.get(&here).map(|slot| &slot.node) {
                None => return Err(dangling()),
                Some(Node::Folder) => {}
                Some(Node::File { .. }) => {
                    if pending.iter().any(|p| !p.is_empty() && p != ".") {
                        return Err(dangling());
                    }
                }
                Some(Node::Symlink { target: next }) => {
                    hops += 1;
                    if hops > MAX_HOPS {
                        return Err(Error::SymlinkLoop {
                            path: link.to_string(),
                            target: target.to_owned(),
                        });
                    }
                    if next.starts_with('/') {
                        return Err(leaves());
                    }
                    folder.pop();
                    for part in next.split('/').rev() {
                        pending.push_front(part.to_owned());
                    }
                }
            }
        }
        Ok(())
    }
}

/// Size and hex SHA-256 of a file's content.
fn hash_content(content: &Content) -> Result<(u64, String)> {
    match content {
        Content::Inline(bytes) => Ok((bytes.len() as u64, hex(&Sha256::digest(bytes)))),
        Content::Disk(path) => {
            let (size, digest) = sha256_file(path)?;
            Ok((size, hex(&digest)))
        }
    }
}
