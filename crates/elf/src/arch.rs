//! The two architectures Lambda runs and how ELF files name them.

use std::fmt;
use std::str::FromStr;

use object::elf;

/// ELF class: 32- or 64-bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ElfClass {
    /// `ELFCLASS32`.
    Elf32,
    /// `ELFCLASS64`.
    Elf64,
}

/// A Lambda architecture: `x86_64` or `arm64` (AArch64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    /// `x86_64` (ELF `EM_X86_64`, 64-bit little-endian).
    X86_64,
    /// `arm64` (ELF `EM_AARCH64`, 64-bit little-endian).
    Aarch64,
}

impl Arch {
    /// Both architectures, in a fixed order.
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];

    /// The architecture an ELF header describes, if it is one Lambda runs. A 32-bit or
    /// big-endian file is never one of them, whatever its `e_machine`.
    pub fn from_elf(machine: u16, class: ElfClass, little_endian: bool) -> Option<Arch> {
        if class != ElfClass::Elf64 || !little_endian {
            return None;
        }
        match elf::Machine(machine) {
            elf::EM_X86_64 => Some(Arch::X86_64),
            elf::EM_AARCH64 => Some(Arch::Aarch64),
            _ => None,
        }
    }

    /// `e_machine` of files for this architecture.
    pub fn elf_machine(self) -> u16 {
        match self {
            Arch::X86_64 => elf::EM_X86_64.0,
            Arch::Aarch64 => elf::EM_AARCH64.0,
        }
    }

    /// The name Lambda uses (`x86_64`, `arm64`).
    pub fn lambda_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "arm64",
        }
    }

    /// The GNU triplet of Debian's multiarch directories (`x86_64-linux-gnu`).
    pub fn multiarch_triplet(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-linux-gnu",
            Arch::Aarch64 => "aarch64-linux-gnu",
        }
    }

    /// The `PT_INTERP` path of glibc's loader on this architecture.
    pub fn glibc_interpreter(self) -> &'static str {
        match self {
            Arch::X86_64 => "/lib64/ld-linux-x86-64.so.2",
            Arch::Aarch64 => "/lib/ld-linux-aarch64.so.1",
        }
    }

    /// The loader's built-in search directories for this architecture, in order: Debian's
    /// multiarch directories first, then the Fedora/Amazon Linux `lib64` ones, then the
    /// plain ones.
    pub fn default_library_dirs(self) -> [String; 6] {
        let triplet = self.multiarch_triplet();
        [
            format!("/lib/{triplet}"),
            format!("/usr/lib/{triplet}"),
            "/lib64".to_owned(),
            "/usr/lib64".to_owned(),
            "/lib".to_owned(),
            "/usr/lib".to_owned(),
        ]
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.lambda_name())
    }
}

/// An architecture name that is neither `x86_64` nor `arm64`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown architecture {0:?}: expected x86_64 (or amd64) or arm64 (or aarch64)")]
pub struct UnknownArch(pub String);

impl FromStr for Arch {
    type Err = UnknownArch;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "x86_64" | "amd64" | "x86-64" => Ok(Arch::X86_64),
            "arm64" | "aarch64" => Ok(Arch::Aarch64),
            other => Err(UnknownArch(other.to_owned())),
        }
    }
}

/// A readable machine name for any ELF header, for messages.
pub(crate) fn machine_name(machine: u16, class: ElfClass, little_endian: bool) -> String {
    let base = match elf::Machine(machine) {
        elf::EM_X86_64 => "x86_64",
        elf::EM_AARCH64 => "aarch64",
        elf::EM_386 => "i386",
        elf::EM_ARM => "arm",
        elf::EM_RISCV => "riscv",
        elf::EM_PPC64 => "ppc64",
        elf::EM_PPC => "ppc",
        elf::EM_S390 => "s390",
        elf::EM_MIPS => "mips",
        elf::EM_LOONGARCH => "loongarch",
        _ => return format!("e_machine {machine}"),
    };
    let mut name = base.to_owned();
    if class == ElfClass::Elf32 && matches!(elf::Machine(machine), elf::EM_X86_64 | elf::EM_AARCH64)
    {
        name.push_str(" (32-bit)");
    }
    if !little_endian && matches!(elf::Machine(machine), elf::EM_X86_64 | elf::EM_AARCH64) {
        name.push_str(" (big-endian)");
    }
    name
}
