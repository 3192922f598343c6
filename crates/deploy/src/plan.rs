//! `plan`: what a deploy would do, item by item, with the reason; changes nothing.

use std::collections::BTreeMap;

use aws_sdk_lambda::Client;
use serde::Serialize;

use crate::diff::{
    Change, PlannedLayer, TagChanges, check_tenancy, code_reason, config_changes, tag_changes,
};
use crate::input::{FunctionPlanInput, LayerRef, LocalLayer};
use crate::{DeployError, remote};

/// Everything a deploy would do; [`crate::apply`] carries it out.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    /// Local layers, each once, in name order.
    pub layers: Vec<LayerPlan>,
    /// Functions, in the order given.
    pub functions: Vec<FunctionPlan>,
}

/// One local layer and what happens to it.
#[derive(Clone, Debug, Serialize)]
pub struct LayerPlan {
    /// The layer.
    pub layer: LocalLayer,
    /// Publish or skip.
    pub action: LayerAction,
}

/// What happens to a local layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum LayerAction {
    /// Publish a new version.
    Publish {
        /// The latest version and its `CodeSha256`, if there is one.
        latest: Option<(i64, String)>,
    },
    /// The latest version already has the local zip's bytes.
    Skip {
        /// That version's ARN.
        arn: String,
    },
}

/// One function and what happens to it.
#[derive(Clone, Debug, Serialize)]
pub struct FunctionPlan {
    /// The function as it should be.
    pub input: FunctionPlanInput,
    /// Its layers, resolved to version ARNs (or to the version about to be published).
    pub layers: Vec<PlannedLayer>,
    /// Create or update.
    pub action: FunctionAction,
}

/// What happens to a function.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum FunctionAction {
    /// It does not exist: create it.
    Create,
    /// It exists: update what differs.
    Update {
        /// The function's ARN.
        arn: String,
        /// Why the code is uploaded; `None`: the code is skipped (same `CodeSha256`).
        code: Option<String>,
        /// The deployed `CodeSha256` (for the skip message).
        deployed_code_sha256: String,
        /// Configuration keys that differ; empty: the configuration update is skipped.
        config: Vec<Change>,
        /// Tags to change; empty: skipped.
        tags: TagChanges,
    },
}

impl Plan {
    /// True when applying would change nothing.
    pub fn is_noop(&self) -> bool {
        self.layers
            .iter()
            .all(|l| matches!(l.action, LayerAction::Skip { .. }))
            && self.functions.iter().all(|f| match &f.action {
                FunctionAction::Create => false,
                FunctionAction::Update {
                    code, config, tags, ..
                } => code.is_none() && config.is_empty() && tags.is_empty(),
            })
    }
}

/// Works out what deploying `inputs` would change, reading (never writing) the account.
pub async fn plan(client: &Client, inputs: &[FunctionPlanInput]) -> Result<Plan, DeployError> {
    let (layers, resolved) = resolve_layers(client, inputs).await?;
    let mut functions = Vec::new();
    for (input, planned_layers) in inputs.iter().zip(resolved) {
        let local_sha = input
            .code_sha256
            .as_deref()
            .ok_or_else(|| DeployError::NotBuilt {
                function: input.name.clone(),
                path: input.zip_path.clone(),
            })?;
        let action = match remote::get_function(client, &input.name).await? {
            None => {
                if input.role.is_none() {
                    return Err(DeployError::NoRole {
                        function: input.name.clone(),
                    });
                }
                FunctionAction::Create
            }
            Some(deployed) => {
                let config = deployed.configuration().cloned().unwrap_or_else(|| {
                    aws_sdk_lambda::types::FunctionConfiguration::builder().build()
                });
                check_tenancy(input, &config)?;
                FunctionAction::Update {
                    arn: config.function_arn().unwrap_or_default().to_string(),
                    code: code_reason(input, local_sha, &config),
                    deployed_code_sha256: config.code_sha256().unwrap_or_default().to_string(),
                    config: config_changes(input, &planned_layers, &config),
                    tags: tag_changes(&input.tags, deployed.tags()),
                }
            }
        };
        functions.push(FunctionPlan {
            input: input.clone(),
            layers: planned_layers,
            action,
        });
    }
    Ok(Plan { layers, functions })
}

/// Decides publish/skip for each local layer (once per name) and resolves every function's
/// layer list to ARNs.
pub(crate) async fn resolve_layers(
    client: &Client,
    inputs: &[FunctionPlanInput],
) -> Result<(Vec<LayerPlan>, Vec<Vec<PlannedLayer>>), DeployError> {
    let local_layers = inputs
        .iter()
        .flat_map(|i| &i.layers)
        .filter_map(|l| match l {
            LayerRef::Local(layer) => Some(layer),
            _ => None,
        });
    let local = decide_layers(client, local_layers).await?;
    // Names resolved once, even when several functions use the same layer.
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    let mut resolved = Vec::new();
    for input in inputs {
        let mut layers = Vec::new();
        for layer in &input.layers {
            layers.push(match layer {
                LayerRef::Local(l) => match &local[&l.name].action {
                    LayerAction::Skip { arn } => PlannedLayer::Arn(arn.clone()),
                    LayerAction::Publish { .. } => PlannedLayer::Published(l.name.clone()),
                },
                LayerRef::Arn(arn) => PlannedLayer::Arn(arn.clone()),
                LayerRef::Version { name, version } => {
                    PlannedLayer::Arn(remote::layer_version_arn(client, name, *version).await?)
                }
                LayerRef::Name(name) => {
                    if !by_name.contains_key(name) {
                        let latest = remote::layer_versions(client, name)
                            .await?
                            .into_iter()
                            .next()
                            .ok_or_else(|| DeployError::LayerNotFound { name: name.clone() })?;
                        by_name.insert(name.clone(), latest.arn);
                    }
                    PlannedLayer::Arn(by_name[name].clone())
                }
            });
        }
        resolved.push(layers);
    }
    Ok((local.into_values().collect(), resolved))
}

/// Publish or skip for each local layer, once per name (the same name with other bytes is
/// a [`DeployError::LayerConflict`]).
async fn decide_layers<'a>(
    client: &Client,
    layers: impl Iterator<Item = &'a LocalLayer>,
) -> Result<BTreeMap<String, LayerPlan>, DeployError> {
    let mut local: BTreeMap<String, LayerPlan> = BTreeMap::new();
    for layer in layers {
        if let Some(seen) = local.get(&layer.name) {
            if seen.layer.code_sha256 != layer.code_sha256 {
                return Err(DeployError::LayerConflict {
                    name: layer.name.clone(),
                    first: seen.layer.zip_path.clone(),
                    second: layer.zip_path.clone(),
                });
            }
            continue;
        }
        let action = match remote::latest_layer_version(client, &layer.name).await? {
            Some((latest, sha)) if sha == layer.code_sha256 => {
                LayerAction::Skip { arn: latest.arn }
            }
            Some((latest, sha)) => LayerAction::Publish {
                latest: Some((latest.version, sha)),
            },
            None => LayerAction::Publish { latest: None },
        };
        local.insert(
            layer.name.clone(),
            LayerPlan {
                layer: layer.clone(),
                action,
            },
        );
    }
    Ok(local)
}

/// The plan for publishing layers alone (`cargo xtask publish`: a release's layer zips):
/// each is published unless its latest version has the same `CodeSha256`.
pub async fn plan_layers(client: &Client, layers: &[LocalLayer]) -> Result<Plan, DeployError> {
    let local = decide_layers(client, layers.iter()).await?;
    Ok(Plan {
        layers: local.into_values().collect(),
        functions: Vec::new(),
    })
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for l in &self.layers {
            let name = &l.layer.name;
            match &l.action {
                LayerAction::Publish { latest: None } => {
                    writeln!(f, "layer {name}: publish (no version yet)")?
                }
                LayerAction::Publish {
                    latest: Some((version, sha)),
                } => writeln!(
                    f,
                    "layer {name}: publish (latest version {version} has CodeSha256 {sha}, the local zip {})",
                    l.layer.code_sha256
                )?,
                LayerAction::Skip { arn } => writeln!(
                    f,
                    "layer {name}: skip (latest version {} has the same CodeSha256 {})",
                    arn.rsplit(':').next().unwrap_or(arn),
                    l.layer.code_sha256
                )?,
            }
        }
        for func in &self.functions {
            let name = &func.input.name;
            match &func.action {
                FunctionAction::Create => {
                    let layers: Vec<String> = func.layers.iter().map(PlannedLayer::label).collect();
                    writeln!(
                        f,
                        "function {name}: create (does not exist; {} MB, {} s, {}, layers [{}])",
                        func.input.memory_mb,
                        func.input.timeout_s,
                        func.input
                            .architectures
                            .iter()
                            .map(|a| a.as_str())
                            .collect::<Vec<_>>()
                            .join(","),
                        layers.join(", ")
                    )?
                }
                FunctionAction::Update {
                    code,
                    deployed_code_sha256,
                    config,
                    tags,
                    ..
                } => {
                    match code {
                        Some(reason) => writeln!(f, "function {name}: update code ({reason})")?,
                        None => writeln!(
                            f,
                            "function {name}: skip code (same CodeSha256 {deployed_code_sha256})"
                        )?,
                    }
                    if config.is_empty() {
                        writeln!(f, "function {name}: skip configuration (no key differs)")?;
                    } else {
                        let keys: Vec<String> = config.iter().map(ToString::to_string).collect();
                        writeln!(
                            f,
                            "function {name}: update configuration ({})",
                            keys.join("; ")
                        )?;
                    }
                    if tags.is_empty() {
                        writeln!(f, "function {name}: skip tags (no tag differs)")?;
                    } else {
                        writeln!(f, "function {name}: update tags ({tags})")?;
                    }
                }
            }
        }
        Ok(())
    }
}
