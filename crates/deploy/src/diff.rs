//! Local spec against deployed configuration, key by key: pure functions, shared by
//! `plan` and `state`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_lambda::types::{FunctionConfiguration, TenantIsolationMode};
use serde::Serialize;

use crate::DeployError;
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

/// The deployed function's `TenantIsolationMode` (`None`: no `TenancyConfig`).
pub(crate) fn deployed_tenancy(deployed: &FunctionConfiguration) -> Option<String> {
    deployed
        .tenancy_config()
        .map(|tenancy| tenancy.tenant_isolation_mode().as_str().to_string())
}

/// The spec's `TenantIsolationMode` (`None`: no tenant isolation).
pub(crate) fn local_tenancy(input: &FunctionPlanInput) -> Option<String> {
    input
        .per_tenant
        .then(|| TenantIsolationMode::PerTenant.as_str().to_string())
}

/// Refuses a change of tenant isolation, which Lambda sets only at creation. Pure.
pub(crate) fn check_tenancy(
    input: &FunctionPlanInput,
    deployed: &FunctionConfiguration,
) -> Result<(), DeployError> {
    let (deployed, local) = (deployed_tenancy(deployed), local_tenancy(input));
    if deployed == local {
        return Ok(());
    }
    let shown = |mode: Option<String>| mode.unwrap_or_else(|| "none".to_string());
    Err(DeployError::TenancyChange {
        function: input.name.clone(),
        deployed: shown(deployed),
        local: shown(local),
    })
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::input::Arch;
    use aws_sdk_lambda::types::{Architecture, EnvironmentResponse, Layer, VpcConfigResponse};

    fn input() -> FunctionPlanInput {
        FunctionPlanInput {
            name: "hello".into(),
            zip_path: "hello.zip".into(),
            code_sha256: Some("abc=".into()),
            handler: "main".into(),
            runtime: "provided.al2023".into(),
            architectures: vec![Arch::Arm64],
            memory_mb: 128,
            timeout_s: 3,
            ephemeral_storage_mb: 512,
            environment: BTreeMap::from([("A".into(), "1".into())]),
            layers: Vec::new(),
            role: None,
            vpc: Some(Vpc {
                subnet_ids: vec!["subnet-2".into(), "subnet-1".into()],
                security_group_ids: vec!["sg-1".into()],
            }),
            description: String::new(),
            tags: BTreeMap::new(),
            per_tenant: false,
        }
    }

    #[test]
    fn tenant_isolation_is_set_at_creation_only() {
        use aws_sdk_lambda::types::TenancyConfig;
        let per_tenant = FunctionPlanInput {
            per_tenant: true,
            ..input()
        };
        let isolated = deployed_builder()
            .tenancy_config(
                TenancyConfig::builder()
                    .tenant_isolation_mode(TenantIsolationMode::PerTenant)
                    .build()
                    .unwrap(),
            )
            .build();
        assert!(check_tenancy(&input(), &deployed()).is_ok());
        assert!(check_tenancy(&per_tenant, &isolated).is_ok());
        assert_eq!(deployed_tenancy(&isolated).as_deref(), Some("PER_TENANT"));
        insta::assert_snapshot!(
            check_tenancy(&per_tenant, &deployed()).unwrap_err().to_string(),
            @"function hello: tenant isolation is none deployed and PER_TENANT in the spec, and Lambda sets it only when it creates a function (CreateFunction's TenancyConfig; UpdateFunctionConfiguration has none): delete the function and deploy again, or deploy it under another name"
        );
        insta::assert_snapshot!(
            check_tenancy(&input(), &isolated).unwrap_err().to_string(),
            @"function hello: tenant isolation is PER_TENANT deployed and none in the spec, and Lambda sets it only when it creates a function (CreateFunction's TenancyConfig; UpdateFunctionConfiguration has none): delete the function and deploy again, or deploy it under another name"
        );
    }

    fn deployed() -> FunctionConfiguration {
        deployed_builder().build()
    }

    fn deployed_builder() -> aws_sdk_lambda::types::builders::FunctionConfigurationBuilder {
        FunctionConfiguration::builder()
            .code_sha256("abc=")
            .handler("main")
            .runtime("provided.al2023".into())
            .architectures(Architecture::Arm64)
            .memory_size(128)
            .timeout(3)
            .environment(EnvironmentResponse::builder().variables("A", "1").build())
            .vpc_config(
                VpcConfigResponse::builder()
                    .subnet_ids("subnet-1")
                    .subnet_ids("subnet-2")
                    .security_group_ids("sg-1")
                    .build(),
            )
    }

    #[test]
    fn the_same_function_has_no_change_whatever_the_order_of_vpc_ids() {
        assert_eq!(config_changes(&input(), &[], &deployed()), []);
        assert_eq!(code_reason(&input(), "abc=", &deployed()), None);
    }

    #[test]
    fn a_changed_environment_value_is_a_change_without_showing_it() {
        let mut local = input();
        local.environment.insert("A".into(), "2".into());
        let changes = config_changes(&local, &[], &deployed());
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(
            changes[0].to_string(),
            "environment.A changed (values not shown)"
        );
        assert!(!format!("{:?}", changes[0]).contains('2'));
    }

    #[test]
    fn an_architecture_change_goes_with_the_code() {
        let mut local = input();
        local.architectures = vec![Arch::X86_64];
        assert_eq!(
            code_reason(&local, "abc=", &deployed()).unwrap(),
            "architectures arm64 deployed, x86_64 local"
        );
        assert_eq!(config_changes(&local, &[], &deployed()), []);
    }

    #[test]
    fn layers_differ_by_version_and_order() {
        let v1 = "arn:aws:lambda:us-east-1:1:layer:tools:1";
        let other = "arn:aws:lambda:us-east-1:1:layer:other:4";
        let with = |arns: &[&str]| {
            let mut b = deployed_builder();
            for arn in arns {
                b = b.layers(Layer::builder().arn(*arn).build());
            }
            b.build()
        };
        let planned = [
            PlannedLayer::Arn(v1.into()),
            PlannedLayer::Arn(other.into()),
        ];
        assert_eq!(config_changes(&input(), &planned, &with(&[v1, other])), []);
        let swapped = config_changes(&input(), &planned, &with(&[other, v1]));
        assert_eq!(
            swapped[0].to_string(),
            "layers other:4, tools:1 -> tools:1, other:4"
        );
        let publish = [PlannedLayer::Published("tools".into())];
        let changes = config_changes(&input(), &publish, &with(&[v1]));
        assert_eq!(
            changes[0].to_string(),
            "layers tools:1 -> tools:(new version)"
        );
    }

    #[test]
    fn tags_are_set_and_removed_key_by_key() {
        let local = BTreeMap::from([("a".to_string(), "1".to_string()), ("b".into(), "2".into())]);
        let deployed =
            HashMap::from([("a".to_string(), "1".to_string()), ("c".into(), "3".into())]);
        let changes = tag_changes(&local, Some(&deployed));
        assert_eq!(changes.set, BTreeMap::from([("b".into(), "2".into())]));
        assert_eq!(changes.remove, ["c"]);
        assert!(tag_changes(&BTreeMap::new(), None).is_empty());
    }
}
