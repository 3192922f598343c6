//! Paths inside a tree: relative, UTF-8, `/`-separated, never climbing out.

use std::fmt;

use crate::error::{Error, Result};

/// A checked path inside a tree (`bin/tool`, `lib/libz.so.1`): relative,
/// UTF-8, no `..`, no `\` or NUL, with `.` and repeated `/` normalised away.
/// The empty path is the tree's root. Ordering is bytewise, as zip entries are.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TreePath(String);

impl TreePath {
    /// The tree's root (no entry of its own in a zip).
    pub fn root() -> Self {
        TreePath(String::new())
    }

    /// Checks and normalises `raw`; refuses absolute paths, `..`, `\` and NUL,
    /// naming `raw` in the error.
    pub fn parse(raw: &str) -> Result<Self> {
        if raw.starts_with('/') {
            return Err(Error::AbsolutePath {
                path: raw.to_owned(),
            });
        }
        if raw.contains('\\') {
            return Err(Error::UnportableName {
                path: raw.to_owned(),
                what: "a backslash",
            });
        }
        if raw.contains('\0') {
            return Err(Error::UnportableName {
                path: raw.to_owned(),
                what: "a NUL byte",
            });
        }
        let mut parts = Vec::new();
        for part in raw.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    return Err(Error::ParentComponent {
                        path: raw.to_owned(),
                    });
                }
                name => parts.push(name),
            }
        }
        Ok(TreePath(parts.join("/")))
    }

    /// Like [`TreePath::parse`], but the root is refused: a file needs a name.
    pub fn parse_non_root(raw: &str) -> Result<Self> {
        let path = Self::parse(raw)?;
        if path.is_root() {
            return Err(Error::EmptyPath {
                path: raw.to_owned(),
            });
        }
        Ok(path)
    }

    /// True for the tree's root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path as `a/b/c` (empty for the root).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// This path with one more component; `name` must be a single checked
    /// component (a file name read from disk).
    pub fn child(&self, name: &str) -> Result<Self> {
        let joined = if self.is_root() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.0)
        };
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            return Err(Error::ParentComponent { path: joined });
        }
        Self::parse(&joined)
    }

    /// The folder holding this path; `None` for the root.
    pub fn parent(&self) -> Option<Self> {
        if self.is_root() {
            return None;
        }
        Some(match self.0.rfind('/') {
            Some(at) => TreePath(self.0[..at].to_owned()),
            None => TreePath::root(),
        })
    }

    /// Every folder above this path, outermost first, root excluded.
    pub fn ancestors(&self) -> Vec<TreePath> {
        let mut out = Vec::new();
        let mut current = self.parent();
        while let Some(path) = current {
            if path.is_root() {
                break;
            }
            current = path.parent();
            out.push(path);
        }
        out.reverse();
        out
    }

    /// The components of the path.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|part| !part.is_empty())
    }
}

impl fmt::Display for TreePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_dots_and_slashes() {
        assert_eq!(TreePath::parse("./a//b/./c/").unwrap().as_str(), "a/b/c");
        assert!(TreePath::parse(".").unwrap().is_root());
    }

    #[test]
    fn refuses_escapes() {
        assert!(matches!(
            TreePath::parse("/etc"),
            Err(Error::AbsolutePath { .. })
        ));
        assert!(matches!(
            TreePath::parse("a/../b"),
            Err(Error::ParentComponent { .. })
        ));
        assert!(matches!(
            TreePath::parse("a\\b"),
            Err(Error::UnportableName { .. })
        ));
        assert!(matches!(
            TreePath::parse_non_root("./"),
            Err(Error::EmptyPath { .. })
        ));
    }

    #[test]
    fn ancestors_outermost_first() {
        let path = TreePath::parse("a/b/c").unwrap();
        let names: Vec<_> = path.ancestors().iter().map(|p| p.to_string()).collect();
        assert_eq!(names, ["a", "a/b"]);
    }
}
