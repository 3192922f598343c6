//! Which sonames the target image already provides, so a layer leaves them out.

use std::collections::BTreeMap;

use crate::arch::Arch;

const AL2023_X86_64: &str = include_str!("../data/al2023-x86_64.txt");
const AL2023_ARM64: &str = include_str!("../data/al2023-arm64.txt");

/// Why a soname is not copied into a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProvidedKind {
    /// Part of glibc or its loader: never copied, a layer's copy would not match the
    /// image's `ld.so` and would break every process.
    Glibc,
    /// Another library of the image, found in `/lib64` before anything in `/opt/lib`.
    System,
}

/// A line of a provided-libraries list that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("provided-libraries list, line {line}: {message}")]
pub struct ProvidedListError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

/// The set of sonames an image provides, each tagged glibc or system.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvidedLibraries {
    sonames: BTreeMap<String, ProvidedKind>,
}

impl ProvidedLibraries {
    /// What Lambda's `provided.al2023` image has for `arch`, from the lists in
    /// `crates/elf/data/` (each says where it comes from).
    pub fn al2023(arch: Arch) -> Self {
        let text = match arch {
            Arch::X86_64 => AL2023_X86_64,
            Arch::Aarch64 => AL2023_ARM64,
        };
        // The built-in lists are checked by a unit test, so this never drops a line.
        Self::parse(text).unwrap_or_default()
    }

    /// Reads a list in the data-file format: one `soname kind` per line, where kind is
    /// `glibc` or `system`; `#` starts a comment; blank lines are ignored.
    pub fn parse(text: &str) -> Result<Self, ProvidedListError> {
        let mut sonames = BTreeMap::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let error = |message: String| ProvidedListError {
                line: index + 1,
                message,
            };
            let mut words = line.split_whitespace();
            let (Some(soname), Some(kind), None) = (words.next(), words.next(), words.next())
            else {
                return Err(error(format!(
                    "expected `<soname> glibc` or `<soname> system`, found {line:?}"
                )));
            };
            let kind = match kind {
                "glibc" => ProvidedKind::Glibc,
                "system" => ProvidedKind::System,
                other => {
                    return Err(error(format!(
                        "unknown kind {other:?} for {soname}: expected glibc or system"
                    )));
                }
            };
            sonames.insert(soname.to_owned(), kind);
        }
        Ok(ProvidedLibraries { sonames })
    }

    /// An empty set: everything is copied (for images that provide nothing).
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds or replaces one soname.
    pub fn insert(&mut self, soname: impl Into<String>, kind: ProvidedKind) {
        self.sonames.insert(soname.into(), kind);
    }

    /// Whether, and how, the image provides `soname`.
    pub fn kind_of(&self, soname: &str) -> Option<ProvidedKind> {
        self.sonames.get(soname).copied()
    }

    /// Every provided soname with its kind, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, ProvidedKind)> {
        self.sonames
            .iter()
            .map(|(name, kind)| (name.as_str(), *kind))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    #[test]
    fn built_in_lists_parse_and_hold_the_essentials() {
        for (arch, text, loader) in [
            (Arch::X86_64, AL2023_X86_64, "ld-linux-x86-64.so.2"),
            (Arch::Aarch64, AL2023_ARM64, "ld-linux-aarch64.so.1"),
        ] {
            let parsed = ProvidedLibraries::parse(text).unwrap();
            assert_eq!(parsed, ProvidedLibraries::al2023(arch));
            assert_eq!(parsed.kind_of(loader), Some(ProvidedKind::Glibc));
            assert_eq!(parsed.kind_of("libc.so.6"), Some(ProvidedKind::Glibc));
            assert_eq!(parsed.kind_of("libssl.so.3"), Some(ProvidedKind::System));
            assert_eq!(parsed.kind_of("libstdc++.so.6"), Some(ProvidedKind::System));
            // Known gaps of the image are copied.
            for gap in [
                "libcrypt.so.1",
                "libcrypt.so.2",
                "libgcrypt.so.20",
                "libgpgme.so.11",
            ] {
                assert_eq!(parsed.kind_of(gap), None, "{gap} must not be provided");
            }
        }
    }

    #[test]
    fn bad_lines_are_named() {
        let err = ProvidedLibraries::parse("libc.so.6 glibc\nlibfoo.so.1 maybe\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.to_string().contains("unknown kind \"maybe\""), "{err}");
        let err = ProvidedLibraries::parse("justone\n").unwrap_err();
        assert_eq!(err.line, 1);
    }
}
