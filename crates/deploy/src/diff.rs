//! Local spec against deployed configuration, key by key: pure functions, shared by
//! `plan` and `state`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_lambda::types::FunctionConfiguration;
use serde::Serialize;

use crate::input::{FunctionPlanInput, Vpc};
use crate::remote::short_layer;

/// A layer as the function should use it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum PlannedLayer {
    /// This version ARN.
    Arn(String),
    /// The version that publishing this local layer (by name) will create.
    Published(String),
}

impl PlannedLayer {
    /// How plan and state print it: `name:N`, or `name:(new version)`.
    pub fn label(&self) -> String {
        match self {
            PlannedLayer::Arn(arn) => short_layer(arn),
            PlannedLayer::Published(name) => format!("{name}:(new version)"),
        }
    }
}

/// Which `UpdateFunctionConfiguration` field a [`Change`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    Handler,
    Runtime,
    Memory,
    Timeout,
    EphemeralStorage,
    Environment,
    Layers,
    Role,
    Vpc,
    Description,
}

/// One configuration key whose deployed value differs from the local one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The key: `memory_mb`, `environment.NAME`, `layers`, ...
    pub key: String,
    /// The deployed value (`None`: not set). Environment values are never shown: `(set)`.
    pub deployed: Option<String>,
    /// The local value (`None`: not set).
    pub local: Option<String>,
    #[serde(skip)]
    pub(crate) field: Field,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.deployed, &self.local) {
            (None, Some(_)) if self.field == Field::Environment => {
                write!(f, "{} added", self.key)
            }
            (Some(_), None) if self.field == Field::Environment => {
                write!(f, "{} removed", self.key)
            }
            _ if self.field == Field::Environment => {
                write!(f, "{} changed (values not shown)", self.key)
            }
            (deployed, local) => write!(
                f,
                "{} {} -> {}",
                self.key,
                deployed.as_deref().unwrap_or("(none)"),
                local.as_deref().unwrap_or("(none)")
            ),
        }
    }
}

/// Tags to add or change, and tag keys to remove.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TagChanges {
    /// Tags whose value is new or different.
    pub set: BTreeMap<String, String>,
    /// Deployed tag keys the spec does not have.
    pub remove: Vec<String>,
}

impl TagChanges {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }
}

impl std::fmt::Display for TagChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts: Vec<String> = self.set.keys().map(|k| format!("{k} set")).collect();
        parts.extend(self.remove.iter().map(|k| format!("{k} removed")));
        f.write_str(&parts.join("; "))
    }
}

/// Why the code must be uploaded, or `None` when the deployed code is the local zip.
pub(crate) fn code_reason(
    input: &FunctionPlanInput,
    local_sha: &str,
    deployed: &FunctionConfiguration,
) -> Option<String> {
    let deployed_sha = deployed.code_sha256().unwrap_or_default();
    let deployed_arch: Vec<&str> = deployed
        .architectures()
        .iter()
        .map(|a| a.as_str())
        .collect();
    let local_arch: Vec<&str> = input.architectures.iter().map(|a| a.as_str()).collect();
    let mut reasons = Vec::new();
    if deployed_sha != local_sha {
        reasons.push(format!(
            "CodeSha256 {deployed_sha} deployed, {local_sha} local"
        ));
    }
    // Architectures can only change together with the code (UpdateFunctionCode carries them).
    // An empty deployed list means x86_64, Lambda's default.
    let deployed_arch = if deployed_arch.is_empty() {
        vec!["x86_64"]
    } else {
        deployed_arch
    };
    if deployed_arch != local_arch {
        reasons.push(format!(
            "architectures {} deployed, {} local",
            deployed_arch.join(","),
            local_arch.join(",")
        ));
    }
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

/// Every configuration key that differs, in a fixed order.
pub(crate) fn config_changes(
    input: &FunctionPlanInput,
    layers: &[PlannedLayer],
    deployed: &FunctionConfiguration,
) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut check = |field: Field, key: &str, deployed: Option<String>, local: Option<String>| {
        if deployed != local {
            changes.push(Change {
                key: key.to_string(),
                deployed,
                local,
                field,
            });
        }
    };
    check(
        Field::Handler,
        "handler",
        deployed.handler().map(str::to_string),
        Some(input.handler.clone()),
    );
    check(
        Field::Runtime,
        "runtime",
        deployed.runtime().map(|r| r.as_str().to_string()),
        Some(input.runtime.clone()),
    );
    check(
        Field::Memory,
        "memory_mb",
        deployed.memory_size().map(|m| m.to_string()),
        Some(input.memory_mb.to_string()),
    );
    check(
        Field::Timeout,
        "timeout_s",
        deployed.timeout().map(|t| t.to_string()),
        Some(input.timeout_s.to_string()),
    );
    check(
        Field::EphemeralStorage,
        "ephemeral_storage_mb",
        // Lambda reports 512 when it was never set.
        Some(
            deployed
                .ephemeral_storage()
                .map_or(512, |e| e.size())
                .to_string(),
        ),
        Some(input.ephemeral_storage_mb.to_string()),
    );
    if let Some(role) = &input.role {
        check(
            Field::Role,
            "role",
            deployed.role().map(str::to_string),
            Some(role.clone()),
        );
    }
    check(
        Field::Description,
        "description",
        Some(deployed.description().unwrap_or_default().to_string()),
        Some(input.description.clone()),
    );
    let deployed_layers: Vec<String> = deployed
        .layers()
        .iter()
        .filter_map(|l| l.arn())
        .map(short_layer)
        .collect();
    let local_layers: Vec<String> = layers.iter().map(PlannedLayer::label).collect();
    let same_layers = deployed
        .layers()
        .iter()
        .map(|l| l.arn().map(|a| PlannedLayer::Arn(a.to_string())))
        .eq(layers.iter().cloned().map(Some));
    if !same_layers {
        check(
            Field::Layers,
            "layers",
            Some(deployed_layers.join(", ")),
            Some(local_layers.join(", ")),
        );
    }
    let deployed_vpc = deployed.vpc_config().map(|v| Vpc {
        subnet_ids: v.subnet_ids().to_vec(),
        security_group_ids: v.security_group_ids().to_vec(),
    });
    let vpc_label = |vpc: &Option<Vpc>| -> Option<String> {
        let vpc = vpc.as_ref()?;
        let subnets: BTreeSet<&String> = vpc.subnet_ids.iter().collect();
        let groups: BTreeSet<&String> = vpc.security_group_ids.iter().collect();
        if subnets.is_empty() && groups.is_empty() {
            return None;
        }
        Some(format!(
            "subnets {} security groups {}",
            subnets.into_iter().cloned().collect::<Vec<_>>().join(","),
            groups.into_iter().cloned().collect::<Vec<_>>().join(",")
        ))
    };
    check(
        Field::Vpc,
        "vpc",
        vpc_label(&deployed_vpc),
        vpc_label(&input.vpc),
    );
    let empty = HashMap::new();
    let deployed_env = deployed
        .environment()
        .and_then(|e| e.variables())
        .unwrap_or(&empty);
    let keys: BTreeSet<&String> = deployed_env
        .keys()
        .chain(input.environment.keys())
        .collect();
    for key in keys {
        let (d, l) = (deployed_env.get(key), input.environment.get(key));
        if d != l {
            // Values may be secrets: say only whether each side has one.
            let set = |v: Option<&String>| v.map(|_| "(set)".to_string());
            changes.push(Change {
                key: format!("environment.{key}"),
                deployed: set(d),
                local: set(l),
                field: Field::Environment,
            });
        }
    }
    changes
}

/// What to tag and untag so the function's tags are the spec's.
pub(crate) fn tag_changes(
    local: &BTreeMap<String, String>,
    deployed: Option<&HashMap<String, String>>,
) -> TagChanges {
    let empty = HashMap::new();
    let deployed = deployed.unwrap_or(&empty);
    let set = local
        .iter()
        .filter(|(k, v)| deployed.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut remove: Vec<String> = deployed
        .keys()
        .filter(|k| !local.contains_key(*k))
        .cloned()
        .collect();
    remove.sort();
    TagChanges { set, remove }
}
