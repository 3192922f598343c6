//! What the caller wants deployed, as plain values: the CLI fills these from `lamina.toml`,
//! so this crate knows nothing of the spec format.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::DeployError;

/// A Lambda instruction set architecture, spelled as the Lambda API spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Arch {
    /// `x86_64`.
    #[serde(rename = "x86_64")]
    X86_64,
    /// `arm64` (Graviton).
    #[serde(rename = "arm64")]
    Arm64,
}

impl Arch {
    /// The Lambda API's spelling: `x86_64` or `arm64`.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }

    pub(crate) fn to_sdk(self) -> aws_sdk_lambda::types::Architecture {
        match self {
            Arch::X86_64 => aws_sdk_lambda::types::Architecture::X8664,
            Arch::Arm64 => aws_sdk_lambda::types::Architecture::Arm64,
        }
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The subnets and security groups a function runs in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Vpc {
    /// Subnet ids (`subnet-...`).
    pub subnet_ids: Vec<String>,
    /// Security group ids (`sg-...`).
    pub security_group_ids: Vec<String>,
}

/// A layer zip built locally, published when its bytes differ from the latest version's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LocalLayer {
    /// The AWS layer name (letters, digits, `-`, `_`).
    pub name: String,
    /// The zip to publish.
    pub zip_path: PathBuf,
    /// Base64 of the zip's SHA-256, as Lambda reports `CodeSha256` ([`code_sha256`]).
    pub code_sha256: String,
    /// `--compatible-runtimes`, e.g. `provided.al2023`.
    pub compatible_runtimes: Vec<String>,
    /// `--compatible-architectures`.
    pub compatible_architectures: Vec<Arch>,
    /// The version's description (may be empty).
    pub description: String,
}

/// One layer a function uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LayerRef {
    /// A local zip: published if changed, then its newest version is used.
    Local(LocalLayer),
    /// A layer name in this account and region: its latest version.
    Name(String),
    /// `name:N`: that version, pinned.
    Version {
        /// The layer name.
        name: String,
        /// The version number.
        version: i64,
    },
    /// A full layer version ARN, used as given (another account's layer, for instance).
    Arn(String),
}

impl LayerRef {
    /// Reads a remote layer reference as a spec writes it: a full ARN
    /// (`arn:aws:lambda:...:layer:NAME:N`), `NAME:N`, or `NAME` (latest version).
    pub fn parse_remote(text: &str) -> Result<LayerRef, DeployError> {
        let bad = |why: &str| DeployError::BadLayerRef {
            text: text.to_string(),
            why: why.to_string(),
        };
        if text.starts_with("arn:") {
            let parts: Vec<&str> = text.split(':').collect();
            if parts.len() != 8 || parts[5] != "layer" || parts[7].parse::<i64>().is_err() {
                return Err(bad(
                    "a layer version ARN is arn:PARTITION:lambda:REGION:ACCOUNT:layer:NAME:VERSION",
                ));
            }
            return Ok(LayerRef::Arn(text.to_string()));
        }
        let valid_name = |n: &str| {
            !n.is_empty()
                && n.len() <= 140
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        match text.split_once(':') {
            Some((name, version)) => {
                let version: i64 = version.parse().ok().filter(|v| *v >= 1).ok_or_else(|| {
                    bad("the part after ':' must be a version number (1 or more)")
                })?;
                if !valid_name(name) {
                    return Err(bad("a layer name has letters, digits, '-' and '_' only"));
                }
                Ok(LayerRef::Version {
                    name: name.to_string(),
                    version,
                })
            }
            None if valid_name(text) => Ok(LayerRef::Name(text.to_string())),
            None => Err(bad("a layer name has letters, digits, '-' and '_' only")),
        }
    }
}

/// One function as it should be deployed. Every value is concrete: the caller applies the
/// spec's defaults, so that "not set" never silently keeps what is deployed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FunctionPlanInput {
    /// The function name.
    pub name: String,
    /// The function zip.
    pub zip_path: PathBuf,
    /// Base64 SHA-256 of the zip ([`code_sha256`]); `None` when the zip is not built yet
    /// (`state` reports it, `plan` refuses it).
    pub code_sha256: Option<String>,
    /// `_HANDLER`.
    pub handler: String,
    /// e.g. `provided.al2023`.
    pub runtime: String,
    /// One architecture (Lambda takes exactly one).
    pub architectures: Vec<Arch>,
    /// Memory in MB (128..=10240).
    pub memory_mb: i32,
    /// Timeout in seconds (1..=900).
    pub timeout_s: i32,
    /// `/tmp` size in MB (512..=10240).
    pub ephemeral_storage_mb: i32,
    /// Environment variables. Serialized with their values hidden: a plan printed as JSON
    /// must not leak secrets.
    #[serde(serialize_with = "names_only")]
    pub environment: BTreeMap<String, String>,
    /// Layers, in order.
    pub layers: Vec<LayerRef>,
    /// The execution role ARN; required to create, left as deployed when `None` on update.
    pub role: Option<String>,
    /// `None`: no VPC (a deployed VPC configuration is removed).
    pub vpc: Option<Vpc>,
    /// The description (may be empty).
    pub description: String,
    /// Tags on the function.
    pub tags: BTreeMap<String, String>,
    /// Tenant isolation (`TenancyConfig` with `TenantIsolationMode: PER_TENANT`). Lambda
    /// sets it only when it creates a function: a change of a deployed function is refused
    /// by `plan` ([`crate::DeployError::TenancyChange`]).
    pub per_tenant: bool,
}

fn names_only<S: serde::Serializer>(
    environment: &BTreeMap<String, String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(environment.keys().map(|k| (k, "(hidden)")))
}

/// Lambda's `CodeSha256` of a file: the base64 of its SHA-256.
pub fn code_sha256(path: &Path) -> Result<String, DeployError> {
    let mut file = std::fs::File::open(path).map_err(|source| DeployError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|source| DeployError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(base64::engine::general_purpose::STANDARD.encode(hasher.finalize()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn remote_layer_refs_are_read_as_a_spec_writes_them() {
        assert_eq!(
            LayerRef::parse_remote("tools").unwrap(),
            LayerRef::Name("tools".into())
        );
        assert_eq!(
            LayerRef::parse_remote("tools:3").unwrap(),
            LayerRef::Version {
                name: "tools".into(),
                version: 3
            }
        );
        let arn = "arn:aws:lambda:eu-west-1:123456789012:layer:tools:7";
        assert_eq!(
            LayerRef::parse_remote(arn).unwrap(),
            LayerRef::Arn(arn.into())
        );
        for bad in [
            "tools:x",
            "tools:0",
            "to ols",
            "",
            "arn:aws:lambda:eu-west-1:1:function:f",
        ] {
            assert!(LayerRef::parse_remote(bad).is_err(), "{bad}");
        }
        insta::assert_snapshot!(
            LayerRef::parse_remote("tools:latest")
                .unwrap_err()
                .to_string()
        );
    }
}
