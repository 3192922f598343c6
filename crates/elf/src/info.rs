//! What the dynamic loader reads from one ELF file: the types. `parse.rs` reads them from
//! the file's bytes ([`ElfInfo::parse`]) or from the file itself ([`ElfInfo::parse_file`]).

use std::fmt;

use crate::arch::{Arch, ElfClass};

/// Why bytes could not be read as an ELF file. Every variant says which part is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElfError {
    /// The bytes do not start with the ELF magic `\x7fELF`.
    #[error("not an ELF file (no \\x7fELF magic at the start)")]
    NotElf,
    /// The file is shorter than its headers say, or a header field is out of range.
    #[error("malformed ELF file: {0}")]
    Malformed(String),
}

/// Why a file could not be read as an ELF file ([`ElfInfo::parse_file`]).
#[derive(Debug, thiserror::Error)]
pub enum ElfFileError {
    /// Opening or reading the file failed (shown as the I/O error alone, as `fs::read`'s).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Its bytes are not an ELF file, or a malformed one.
    #[error(transparent)]
    Elf(#[from] ElfError),
}

impl ElfError {
    pub(crate) fn malformed(what: impl Into<String>) -> Self {
        ElfError::Malformed(what.into())
    }
}

/// The ELF file type (`e_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// `ET_EXEC`: a position-dependent executable.
    Executable,
    /// `ET_DYN`: a shared library or a position-independent executable.
    SharedObject,
    /// `ET_REL`: an object file; nothing the loader can run.
    Relocatable,
    /// `ET_CORE`: a core dump.
    Core,
    /// Any other value.
    Other(u16),
}

/// A glibc release such as 2.34 or 2.2.5, ordered the way glibc versions compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GlibcVersion {
    /// First component (2 for every glibc in use).
    pub major: u16,
    /// Second component.
    pub minor: u16,
    /// Third component, 0 when absent (`GLIBC_2.2.5` has 5).
    pub patch: u16,
}

impl GlibcVersion {
    /// The glibc of Amazon Linux 2023 (`provided.al2023`).
    pub const AL2023: GlibcVersion = GlibcVersion::new(2, 34);

    /// A version `major.minor` (patch 0).
    pub const fn new(major: u16, minor: u16) -> Self {
        GlibcVersion {
            major,
            minor,
            patch: 0,
        }
    }

    /// The glibc version a symbol-version name stands for: `GLIBC_2.38` is 2.38,
    /// `GLIBC_2.2.5` is 2.2.5, and `GLIBC_ABI_DT_RELR` (packed relative relocations) is
    /// 2.36, the release that introduced it. Anything else (`GLIBC_PRIVATE`, `GCC_3.0`,
    /// `OPENSSL_3.0.0`) is `None`.
    pub fn from_version_name(name: &str) -> Option<Self> {
        if name == "GLIBC_ABI_DT_RELR" {
            return Some(GlibcVersion::new(2, 36));
        }
        let rest = name.strip_prefix("GLIBC_")?;
        let mut parts = rest.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = match parts.next() {
            Some(p) => p.parse().ok()?,
            None => 0,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(GlibcVersion {
            major,
            minor,
            patch,
        })
    }
}

impl fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.patch == 0 {
            write!(f, "{}.{}", self.major, self.minor)
        } else {
            write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
        }
    }
}

/// One symbol version a file needs from a library (`.gnu.version_r` / `DT_VERNEED`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionNeed {
    /// The library the version is needed from (`vn_file`), e.g. `libc.so.6`.
    pub file: String,
    /// The version name (`vna_name`), e.g. `GLIBC_2.34`.
    pub version: String,
    /// Dynamic symbols bound to this version, when the section headers allow telling
    /// (empty for files without section headers). At most [`MAX_SYMBOLS_PER_VERSION`].
    pub symbols: Vec<String>,
}

/// How many symbol names are kept per needed version: enough to name the culprit.
pub const MAX_SYMBOLS_PER_VERSION: usize = 8;

/// Everything the dynamic loader needs to know about one ELF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    /// 32- or 64-bit.
    pub class: ElfClass,
    /// True for little-endian files.
    pub little_endian: bool,
    /// Raw `e_machine` (62 = x86-64, 183 = AArch64).
    pub machine: u16,
    /// `e_type`.
    pub kind: FileKind,
    /// `PT_INTERP`: the program interpreter (dynamic loader) an executable asks for.
    pub interpreter: Option<String>,
    /// True when the file has a `PT_DYNAMIC` segment (is dynamically linked).
    pub is_dynamic: bool,
    /// `DT_SONAME`.
    pub soname: Option<String>,
    /// `DT_NEEDED` entries, in file order.
    pub needed: Vec<String>,
    /// `DT_RPATH`, split on `:` (unexpanded: `$ORIGIN` stays as written).
    pub rpath: Vec<String>,
    /// `DT_RUNPATH`, split on `:` (unexpanded).
    pub runpath: Vec<String>,
    /// `DT_VERNEED` entries: symbol versions needed from each library.
    pub version_needs: Vec<VersionNeed>,
}

impl ElfInfo {
    /// The Lambda architecture this file is for, if it is one of the two.
    pub fn arch(&self) -> Option<Arch> {
        Arch::from_elf(self.machine, self.class, self.little_endian)
    }

    /// A readable name for the file's machine, e.g. `x86_64`, `aarch64`, `i386 (32-bit)`.
    pub fn machine_name(&self) -> String {
        crate::arch::machine_name(self.machine, self.class, self.little_endian)
    }

    /// True for executables and shared objects, the files the loader maps.
    pub fn is_loadable(&self) -> bool {
        matches!(self.kind, FileKind::Executable | FileKind::SharedObject)
    }

    /// The newest glibc version this file needs, with the version entry it comes from
    /// (which library and which `GLIBC_x.y` name). `None` when it needs no versioned glibc
    /// symbol.
    pub fn newest_glibc(&self) -> Option<(GlibcVersion, &VersionNeed)> {
        self.version_needs
            .iter()
            .filter_map(|need| GlibcVersion::from_version_name(&need.version).map(|v| (v, need)))
            .max_by(|a, b| a.0.cmp(&b.0))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    #[test]
    fn glibc_version_names() {
        let v = |name| GlibcVersion::from_version_name(name);
        assert_eq!(v("GLIBC_2.34"), Some(GlibcVersion::new(2, 34)));
        assert_eq!(
            v("GLIBC_2.2.5"),
            Some(GlibcVersion {
                major: 2,
                minor: 2,
                patch: 5
            })
        );
        assert_eq!(v("GLIBC_ABI_DT_RELR"), Some(GlibcVersion::new(2, 36)));
        for other in [
            "GLIBC_PRIVATE",
            "GCC_3.0",
            "OPENSSL_3.0.0",
            "GLIBC_2",
            "GLIBC_2.x",
            "GLIBC_2.1.2.3",
        ] {
            assert_eq!(v(other), None, "{other}");
        }
        // 2.2.5 is older than 2.17, which is older than 2.34.
        assert!(v("GLIBC_2.2.5").unwrap() < v("GLIBC_2.17").unwrap());
        assert!(v("GLIBC_2.17").unwrap() < GlibcVersion::AL2023);
        assert_eq!(v("GLIBC_2.2.5").unwrap().to_string(), "2.2.5");
        assert_eq!(GlibcVersion::AL2023.to_string(), "2.34");
    }
}
