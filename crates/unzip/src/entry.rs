//! What a zip entry is, its name as stored, and paths kept inside the tree.

use std::path::{Component, Path, PathBuf};

/// What an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A folder.
    Folder,
    /// A symbolic link (its target is the entry's content).
    Symlink,
}

pub(crate) fn stored_name<R: std::io::Read>(
    entry: &zip::read::ZipFile<'_, R>,
    index: usize,
) -> String {
    entry
        .name()
        .map(|n| n.into_owned())
        .unwrap_or_else(|_| format!("#{index}"))
}

pub(crate) fn kind_of<R: std::io::Read>(entry: &zip::read::ZipFile<'_, R>) -> EntryKind {
    if entry.is_dir() {
        EntryKind::Folder
    } else if entry.is_symlink() {
        EntryKind::Symlink
    } else {
        EntryKind::File
    }
}

/// `a/./b/../c` → `a/c`; `None` if it climbs above its start or is absolute.
pub(crate) fn normalise(path: &Path) -> Option<PathBuf> {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_stays_inside() {
        assert_eq!(
            normalise(Path::new("a/./b/../c")),
            Some(PathBuf::from("a/c"))
        );
        assert_eq!(normalise(Path::new("a/../../c")), None);
        assert_eq!(normalise(Path::new("/etc/passwd")), None);
    }
}
