//! `apply`: carries out a [`Plan`], waiting between updates as Lambda requires.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_lambda::Client;
use aws_sdk_lambda::types::{
    Environment, EphemeralStorage, Runtime, TenancyConfig, TenantIsolationMode, VpcConfig,
};
use serde::Serialize;

use crate::DeployError;
use crate::calls::{self, Call, Settle, settle};
use crate::diff::Field;
use crate::error::aws_error;
use crate::input::{FunctionPlanInput, LocalLayer};
use crate::plan::Plan;
use crate::upload::{self, S3Upload};

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
    pub s3: Option<S3Upload>,
}

impl ApplyOptions {
    /// The bucket uploads go through, if any (always none without the `s3` feature).
    fn s3(&self) -> Option<&S3Upload> {
        #[cfg(feature = "s3")]
        return self.s3.as_ref();
        #[cfg(not(feature = "s3"))]
        None
    }
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
/// because Lambda refuses an update while another is in progress. Which calls, in which
/// order, is decided by [`calls::function_calls`]; this sends them.
pub async fn apply(
    client: &Client,
    plan: &Plan,
    options: &ApplyOptions,
) -> Result<ApplyReport, DeployError> {
    let mut report = ApplyReport::default();
    let mut published: BTreeMap<String, String> = BTreeMap::new();
    for l in calls::layers_to_publish(plan) {
        let arn = publish_layer(client, l, options).await?;
        report.published_layers.push(arn.clone());
        published.insert(l.name.clone(), arn);
    }
    for func in &plan.functions {
        let layers = calls::layer_arns(&func.layers, &published);
        let input = &func.input;
        let mut steps = Vec::new();
        let mut version = String::new();
        for call in calls::function_calls(&func.action, options.publish, options.alias.as_deref()) {
            match &call {
                Call::Create => create_when_role_ready(client, input, &layers, options).await?,
                Call::WaitIdle => wait_idle(client, &input.name, options).await?,
                Call::WaitSettled => wait_settled(client, &input.name, options).await?,
                Call::UpdateCode => {
                    let zip = function_zip(input, options).await?;
                    zip.update(client.update_function_code().function_name(&input.name))
                        .set_architectures(Some(
                            input.architectures.iter().map(|a| a.to_sdk()).collect(),
                        ))
                        .send()
                        .await
                        .map_err(|e| aws_error("UpdateFunctionCode", &input.name, e))?;
                }
                Call::UpdateConfiguration(fields) => {
                    update_configuration(client, input, fields, layers.clone()).await?
                }
                Call::UpdateTags { arn, set, remove } => {
                    update_tags(client, &input.name, arn, set, remove).await?
                }
                Call::PublishVersion => {
                    version = publish_version(client, &input.name).await?;
                    steps.push(format!("published version {version}"));
                }
                Call::MoveAlias(alias) => {
                    move_alias(client, &input.name, alias, &version).await?;
                    steps.push(format!("alias {alias} -> {version}"));
                }
            }
            if let Some(step) = call.report() {
                steps.push(step.to_string());
            }
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

/// Uploads and publishes one layer version; its ARN.
async fn publish_layer(
    client: &Client,
    l: &LocalLayer,
    options: &ApplyOptions,
) -> Result<String, DeployError> {
    let zip = upload::code(&l.zip_path, &l.name, &l.code_sha256, options.s3()).await?;
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
    Ok(out.layer_version_arn().unwrap_or_default().to_string())
}

/// Uploads the zip and creates the function, retrying for `options.new_role_grace` while
/// Lambda cannot assume a role created seconds ago.
async fn create_when_role_ready(
    client: &Client,
    input: &FunctionPlanInput,
    layers: &[String],
    options: &ApplyOptions,
) -> Result<(), DeployError> {
    let zip = function_zip(input, options).await?;
    let start = Instant::now();
    loop {
        match create(client, input, zip.clone(), layers.to_vec()).await {
            Err(DeployError::RoleCannotBeAssumed { .. })
                if start.elapsed() < options.new_role_grace =>
            {
                tokio::time::sleep(options.poll_interval).await;
            }
            result => return result,
        }
    }
}

/// `TagResource` for the tags to set, `UntagResource` for the keys to remove (each only
/// when there is something to send).
async fn update_tags(
    client: &Client,
    name: &str,
    arn: &str,
    set: &BTreeMap<String, String>,
    remove: &[String],
) -> Result<(), DeployError> {
    if !set.is_empty() {
        client
            .tag_resource()
            .resource(arn)
            .set_tags(Some(set.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| aws_error("TagResource", name, e))?;
    }
    if !remove.is_empty() {
        client
            .untag_resource()
            .resource(arn)
            .set_tag_keys(Some(remove.to_vec()))
            .send()
            .await
            .map_err(|e| aws_error("UntagResource", name, e))?;
    }
    Ok(())
}

async fn function_zip(
    input: &FunctionPlanInput,
    options: &ApplyOptions,
) -> Result<upload::Code, DeployError> {
    // plan refused an unbuilt zip; a zip removed since is read (and refused) below.
    let sha = input.code_sha256.as_deref().unwrap_or_default();
    upload::code(&input.zip_path, &input.name, sha, options.s3()).await
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
    if input.per_tenant {
        // Only here: Lambda takes TenancyConfig at creation and never changes it.
        req = req.tenancy_config(
            TenancyConfig::builder()
                .tenant_isolation_mode(TenantIsolationMode::PerTenant)
                .build()
                .map_err(|e| DeployError::Aws {
                    operation: "CreateFunction",
                    resource: input.name.clone(),
                    code: "(request)".into(),
                    message: e.to_string(),
                })?,
        );
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

/// `PublishVersion`; the version number Lambda gave it.
async fn publish_version(client: &Client, name: &str) -> Result<String, DeployError> {
    let out = client
        .publish_version()
        .function_name(name)
        .send()
        .await
        .map_err(|e| aws_error("PublishVersion", name, e))?;
    Ok(out.version().unwrap_or_default().to_string())
}

/// Points `alias` at `version`: `UpdateAlias` when it exists, `CreateAlias` otherwise.
async fn move_alias(
    client: &Client,
    name: &str,
    alias: &str,
    version: &str,
) -> Result<(), DeployError> {
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
            .function_version(version)
            .send()
            .await
            .map_err(|e| aws_error("UpdateAlias", name, e))?;
    } else {
        client
            .create_alias()
            .function_name(name)
            .name(alias)
            .function_version(version)
            .send()
            .await
            .map_err(|e| aws_error("CreateAlias", name, e))?;
    }
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
        match settle(state.as_ref(), status.as_ref(), after_change) {
            Settle::Done => return Ok(()),
            Settle::StateFailed => {
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
            Settle::UpdateFailed => {
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
            Settle::Wait => {}
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
