//! `apply`: carries out a [`Plan`], waiting between updates as Lambda requires.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_lambda::Client;
use aws_sdk_lambda::types::{
    Environment, EphemeralStorage, LastUpdateStatus, Runtime, State, VpcConfig,
};
use serde::Serialize;

use crate::diff::{Field, PlannedLayer};
use crate::error::aws_error;
use crate::plan::{FunctionAction, LayerAction, Plan};
use crate::upload;
use crate::{DeployError, FunctionPlanInput};

/// How to apply.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// Publish a version of each function after updating it (`--publish`).
    pub publish: bool,
    /// Point this alias at the published version, creating it if needed (needs `publish`).
    pub alias: Option<String>,
    /// The longest wait for a function to settle after each step.
    pub wait_timeout: Duration,
    /// How often to ask while waiting.
    pub poll_interval: Duration,
    /// How long to retry creating a function whose role Lambda cannot assume yet: a role
    /// created seconds ago (`--create-role`) takes a few seconds to reach Lambda. Zero
    /// (the default) fails at once.
    pub new_role_grace: Duration,
    /// Upload every zip through this bucket (`--s3-bucket`) instead of in the request.
    #[cfg(feature = "s3")]
    pub s3: Option<crate::upload::S3Upload>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            publish: false,
            alias: None,
            wait_timeout: Duration::from_secs(300),
            poll_interval: Duration::from_secs(1),
            new_role_grace: Duration::ZERO,
            #[cfg(feature = "s3")]
            s3: None,
        }
    }
}

/// What `apply` did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ApplyReport {
    /// Layer versions published (ARNs).
    pub published_layers: Vec<String>,
    /// Per function, the steps taken.
    pub functions: Vec<FunctionReport>,
}

/// The steps taken for one function.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FunctionReport {
    /// The function.
    pub name: String,
    /// `created`, `code updated`, `configuration updated`, `tags updated`, `published version N`,
    /// `alias A -> N`, or `unchanged`.
    pub steps: Vec<String>,
}

impl std::fmt::Display for ApplyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for arn in &self.published_layers {
            writeln!(f, "published layer {arn}")?;
        }
        for func in &self.functions {
            writeln!(f, "function {}: {}", func.name, func.steps.join(", "))?;
        }
        Ok(())
    }
}

/// Carries out `plan`: publishes layers, then creates or updates each function, waiting for
/// it to settle (State=Active, LastUpdateStatus=Successful) before and after each update,
/// because Lambda refuses an update while another is in progress.
pub async fn apply(
    client: &Client,
    plan: &Plan,
    options: &ApplyOptions,
) -> Result<ApplyReport, DeployError> {
    let mut report = ApplyReport::default();
    let mut published: BTreeMap<String, String> = BTreeMap::new();
    for layer in &plan.layers {
        if !matches!(layer.action, LayerAction::Publish { .. }) {
            continue;
        }
        let l = &layer.layer;
        let zip = upload::code(&l.zip_path, &l.name, &l.code_sha256, options).await?;
        let out = client
            .publish_layer_version()
            .layer_name(&l.name)
            .description(&l.description)
            .content(zip.layer_content())
            .set_compatible_runtimes(Some(
                l.compatible_runtimes
                    .iter()
                    .map(|r| Runtime::from(r.as_str()))
                    .collect(),
            ))
            .set_compatible_architectures(Some(
                l.compatible_architectures
                    .iter()
                    .map(|a| a.to_sdk())
                    .collect(),
            ))
            .send()
            .await
            .map_err(|e| aws_error("PublishLayerVersion", &l.name, e))?;
        let arn = out.layer_version_arn().unwrap_or_default().to_string();
        report.published_layers.push(arn.clone());
        published.insert(l.name.clone(), arn);
    }
    for func in &plan.functions {
        let layers: Vec<String> = func
            .layers
            .iter()
            .map(|l| match l {
                PlannedLayer::Arn(arn) => arn.clone(),
                PlannedLayer::Published(name) => published.get(name).cloned().unwrap_or_default(),
            })
            .collect();
        let input = &func.input;
        let mut steps = Vec::new();
        match &func.action {
            FunctionAction::Create => {
                let zip = function_zip(input, options).await?;
                let start = Instant::now();
                loop {
                    match create(client, input, zip.clone(), layers.clone()).await {
                        Err(DeployError::RoleCannotBeAssumed { .. })
                            if start.elapsed() < options.new_role_grace =>
                        {
                            tokio::time::sleep(options.poll_interval).await;
                        }
                        result => break result?,
                    }
                }
                steps.push("created".to_string());
                wait_settled(client, &input.name, options).await?;
            }
            FunctionAction::Update {
                arn,
                code,
                config,
                tags,
                ..
            } => {
                if code.is_some() || !config.is_empty() {
                    wait_idle(client, &input.name, options).await?;
                }
                if code.is_some() {
                    let zip = function_zip(input, options).await?;
                    zip.update(client.update_function_code().function_name(&input.name))
                        .set_architectures(Some(
                            input.architectures.iter().map(|a| a.to_sdk()).collect(),
                        ))
                        .send()
                        .await
                        .map_err(|e| aws_error("UpdateFunctionCode", &input.name, e))?;
                    steps.push("code updated".to_string());
                    wait_settled(client, &input.name, options).await?;
                }
                if !config.is_empty() {
                    let fields: Vec<Field> = config.iter().map(|c| c.field).collect();
                    update_configuration(client, input, &fields, layers).await?;
                    steps.push("configuration updated".to_string());
                    wait_settled(client, &input.name, options).await?;
                }
                if !tags.set.is_empty() {
                    client
                        .tag_resource()
                        .resource(arn)
                        .set_tags(Some(tags.set.clone().into_iter().collect()))
                        .send()
                        .await
                        .map_err(|e| aws_error("TagResource", &input.name, e))?;
                }
                if !tags.remove.is_empty() {
                    client
                        .untag_resource()
                        .resource(arn)
                        .set_tag_keys(Some(tags.remove.clone()))
                        .send()
                        .await
                        .map_err(|e| aws_error("UntagResource", &input.name, e))?;
                }
                if !tags.is_empty() {
                    steps.push("tags updated".to_string());
                }
            }
        }
        if options.publish {
            publish(client, &input.name, options, &mut steps).await?;
        }
        if steps.is_empty() {
            steps.push("unchanged".to_string());
        }
        report.functions.push(FunctionReport {
            name: input.name.clone(),
            steps,
        });
    }
    Ok(report)
}

async fn function_zip(
    input: &FunctionPlanInput,
    options: &ApplyOptions,
) -> Result<upload::Code, DeployError> {
    // plan refused an unbuilt zip; a zip removed since is read (and refused) below.
    let sha = input.code_sha256.as_deref().unwrap_or_default();
    upload::code(&input.zip_path, &input.name, sha, options).await
}

fn vpc_config(input: &FunctionPlanInput) -> VpcConfig {
    let vpc = input.vpc.clone().unwrap_or_default();
    VpcConfig::builder()
        .set_subnet_ids(Some(vpc.subnet_ids))
        .set_security_group_ids(Some(vpc.security_group_ids))
        .build()
}

fn environment(input: &FunctionPlanInput) -> Environment {
    Environment::builder()
        .set_variables(Some(input.environment.clone().into_iter().collect()))
        .build()
}

async fn create(
    client: &Client,
    input: &FunctionPlanInput,
    zip: upload::Code,
    layers: Vec<String>,
) -> Result<(), DeployError> {
    let mut req = client
        .create_function()
        .function_name(&input.name)
        .runtime(Runtime::from(input.runtime.as_str()))
        .handler(&input.handler)
        .set_role(input.role.clone())
        .code(zip.function_code())
        .set_architectures(Some(
            input.architectures.iter().map(|a| a.to_sdk()).collect(),
        ))
        .memory_size(input.memory_mb)
        .timeout(input.timeout_s)
        .ephemeral_storage(
            EphemeralStorage::builder()
                .size(input.ephemeral_storage_mb)
                .build()
                .map_err(|e| DeployError::Aws {
                    operation: "CreateFunction",
                    resource: input.name.clone(),
                    code: "(request)".into(),
                    message: e.to_string(),
                })?,
        )
        .environment(environment(input))
        .set_layers(Some(layers))
        .description(&input.description);
    if !input.tags.is_empty() {
        req = req.set_tags(Some(input.tags.clone().into_iter().collect()));
    }
    if input.vpc.is_some() {
        req = req.vpc_config(vpc_config(input));
    }
    req.send()
        .await
        .map_err(|e| aws_error("CreateFunction", &input.name, e))?;
    Ok(())
}

/// Sends only the fields that differ, so that a drifted key is the only one written.
async fn update_configuration(
    client: &Client,
    input: &FunctionPlanInput,
    fields: &[Field],
    layers: Vec<String>,
) -> Result<(), DeployError> {
    let mut req = client
        .update_function_configuration()
        .function_name(&input.name);
    let mut layers = Some(layers);
    for field in fields {
        req = match field {
            Field::Handler => req.handler(&input.handler),
            Field::Runtime => req.runtime(Runtime::from(input.runtime.as_str())),
            Field::Memory => req.memory_size(input.memory_mb),
            Field::Timeout => req.timeout(input.timeout_s),
            Field::EphemeralStorage => req.ephemeral_storage(
                EphemeralStorage::builder()
                    .size(input.ephemeral_storage_mb)
                    .build()
                    .map_err(|e| DeployError::Aws {
                        operation: "UpdateFunctionConfiguration",
                        resource: input.name.clone(),
                        code: "(request)".into(),
                        message: e.to_string(),
                    })?,
            ),
            Field::Environment => req.environment(environment(input)),
            Field::Layers => req.set_layers(layers.take()),
            Field::Role => req.set_role(input.role.clone()),
            Field::Vpc => req.vpc_config(vpc_config(input)),
            Field::Description => req.description(&input.description),
        };
    }
    req.send()
        .await
        .map_err(|e| aws_error("UpdateFunctionConfiguration", &input.name, e))?;
    Ok(())
}

async fn publish(
    client: &Client,
    name: &str,
    options: &ApplyOptions,
    steps: &mut Vec<String>,
) -> Result<(), DeployError> {
    let out = client
        .publish_version()
        .function_name(name)
        .send()
        .await
        .map_err(|e| aws_error("PublishVersion", name, e))?;
    let version = out.version().unwrap_or_default().to_string();
    steps.push(format!("published version {version}"));
    wait_settled(client, name, options).await?;
    let Some(alias) = &options.alias else {
        return Ok(());
    };
    let exists = match client
        .get_alias()
        .function_name(name)
        .name(alias)
        .send()
        .await
    {
        Ok(_) => true,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            false
        }
        Err(e) => return Err(aws_error("GetAlias", name, e)),
    };
    if exists {
        client
            .update_alias()
            .function_name(name)
            .name(alias)
            .function_version(&version)
            .send()
            .await
            .map_err(|e| aws_error("UpdateAlias", name, e))?;
    } else {
        client
            .create_alias()
            .function_name(name)
            .name(alias)
            .function_version(&version)
            .send()
            .await
            .map_err(|e| aws_error("CreateAlias", name, e))?;
    }
    steps.push(format!("alias {alias} -> {version}"));
    Ok(())
}

/// Waits until no update is in progress, before an update of our own: a function that is
/// `Failed` (an update may be what fixes it) or `Inactive` (an update wakes it) is not waited on.
async fn wait_idle(client: &Client, name: &str, options: &ApplyOptions) -> Result<(), DeployError> {
    wait(client, name, options, false).await
}

/// Waits after a change of ours until State=Active and LastUpdateStatus=Successful; `Failed`
/// ends the wait with [`DeployError::FunctionFailed`].
async fn wait_settled(
    client: &Client,
    name: &str,
    options: &ApplyOptions,
) -> Result<(), DeployError> {
    wait(client, name, options, true).await
}

/// Polls until the function is settled (`after_change`) or merely idle; bounded by
/// `options.wait_timeout`.
async fn wait(
    client: &Client,
    name: &str,
    options: &ApplyOptions,
    after_change: bool,
) -> Result<(), DeployError> {
    let start = Instant::now();
    loop {
        let config = client
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .map_err(|e| aws_error("GetFunctionConfiguration", name, e))?;
        let state = config.state().cloned();
        let status = config.last_update_status().cloned();
        let busy = state == Some(State::Pending) || status == Some(LastUpdateStatus::InProgress);
        if !after_change && !busy {
            return Ok(());
        }
        if state == Some(State::Failed) {
            return Err(DeployError::FunctionFailed {
                function: name.to_string(),
                what: "State=Failed".into(),
                reason_code: config
                    .state_reason_code()
                    .map_or("(none)", |c| c.as_str())
                    .to_string(),
                reason: config.state_reason().unwrap_or("(none)").to_string(),
            });
        }
        if status == Some(LastUpdateStatus::Failed) {
            return Err(DeployError::FunctionFailed {
                function: name.to_string(),
                what: "LastUpdateStatus=Failed".into(),
                reason_code: config
                    .last_update_status_reason_code()
                    .map_or("(none)", |c| c.as_str())
                    .to_string(),
                reason: config
                    .last_update_status_reason()
                    .unwrap_or("(none)")
                    .to_string(),
            });
        }
        // A just-created function may not report LastUpdateStatus yet.
        let active = matches!(state, None | Some(State::Active));
        let settled = matches!(status, None | Some(LastUpdateStatus::Successful));
        if active && settled {
            return Ok(());
        }
        if start.elapsed() >= options.wait_timeout {
            return Err(DeployError::WaitTimeout {
                function: name.to_string(),
                state: state.map_or("(none)".into(), |s| s.as_str().to_string()),
                status: status.map_or("(none)".into(), |s| s.as_str().to_string()),
                waited_s: start.elapsed().as_secs(),
            });
        }
        tokio::time::sleep(options.poll_interval).await;
    }
}
