//! Lambda's two architectures. A module of its own: errors, manifests, ELF checks and specs
//! all name it, and it names none of them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Lambda's two architectures, spelled as Lambda spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Architecture {
    /// `x86_64`, built for `x86_64-unknown-linux-musl`.
    #[serde(rename = "x86_64")]
    X86_64,
    /// `arm64`, built for `aarch64-unknown-linux-musl`.
    #[serde(rename = "arm64")]
    Arm64,
}

impl Architecture {
    /// Both, x86_64 first.
    pub const ALL: [Architecture; 2] = [Architecture::X86_64, Architecture::Arm64];

    /// Lambda's name: `x86_64` or `arm64`.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }

    /// The Rust target triple that builds static binaries for it.
    pub fn rust_target(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64-unknown-linux-musl",
            Architecture::Arm64 => "aarch64-unknown-linux-musl",
        }
    }

    /// Both architectures (the default of a spec).
    pub fn all() -> Vec<Architecture> {
        Self::ALL.to_vec()
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Architecture {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "x86_64" => Ok(Architecture::X86_64),
            "arm64" => Ok(Architecture::Arm64),
            other => Err(format!(
                "unknown architecture `{other}`: expected x86_64 or arm64"
            )),
        }
    }
}
