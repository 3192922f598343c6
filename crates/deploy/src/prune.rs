//! `prune_layers`: deletes old layer versions that no function uses.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_lambda::Client;
use aws_sdk_lambda::types::FunctionVersion;
use serde::Serialize;

use crate::DeployError;
use crate::error::aws_error;
use crate::remote::{self, short_layer};

/// What `prune_layers` deleted (or, in a dry run, would delete) and what it kept.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PruneReport {
    /// Whether this was a dry run (nothing deleted).
    pub dry_run: bool,
    /// Version ARNs deleted (or to delete).
    pub deleted: Vec<String>,
    /// Version ARNs kept because they are among the newest `keep`.
    pub kept_newest: Vec<String>,
    /// Version ARNs kept because functions (or their published versions) use them.
    pub kept_in_use: BTreeMap<String, Vec<String>>,
}

impl std::fmt::Display for PruneReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = if self.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        for arn in &self.deleted {
            writeln!(f, "{verb} {}", short_layer(arn))?;
        }
        for arn in &self.kept_newest {
            writeln!(f, "kept {} (among the newest)", short_layer(arn))?;
        }
        for (arn, users) in &self.kept_in_use {
            writeln!(
                f,
                "kept {} (used by {})",
                short_layer(arn),
                users.join(", ")
            )?;
        }
        Ok(())
    }
}

/// Deletes every version of `layer` (every layer of the account and region when `None`)
/// except the newest `keep` and those a function uses, in any of its versions.
pub async fn prune_layers(
    client: &Client,
    layer: Option<&str>,
    keep: usize,
    dry_run: bool,
) -> Result<PruneReport, DeployError> {
    let names = match layer {
        Some(name) => vec![name.to_string()],
        None => layer_names(client).await?,
    };
    let users = layer_users(client).await?;
    let mut report = PruneReport {
        dry_run,
        ..PruneReport::default()
    };
    for name in names {
        let versions = remote::layer_versions(client, &name).await?;
        if versions.is_empty() && layer.is_some() {
            return Err(DeployError::LayerNotFound { name });
        }
        for (i, v) in versions.into_iter().enumerate() {
            if i < keep {
                report.kept_newest.push(v.arn);
            } else if let Some(used_by) = users.get(&v.arn) {
                report
                    .kept_in_use
                    .insert(v.arn, used_by.iter().cloned().collect());
            } else {
                if !dry_run {
                    client
                        .delete_layer_version()
                        .layer_name(&name)
                        .version_number(v.version)
                        .send()
                        .await
                        .map_err(|e| aws_error("DeleteLayerVersion", &v.arn, e))?;
                }
                report.deleted.push(v.arn);
            }
        }
    }
    Ok(report)
}

async fn layer_names(client: &Client) -> Result<Vec<String>, DeployError> {
    let mut names = Vec::new();
    let mut marker = None;
    loop {
        let out = client
            .list_layers()
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| aws_error("ListLayers", "(all layers)", e))?;
        names.extend(
            out.layers()
                .iter()
                .filter_map(|l| l.layer_name())
                .map(str::to_string),
        );
        marker = out.next_marker().map(str::to_string);
        if marker.is_none() {
            return Ok(names);
        }
    }
}

/// Layer version ARN → the functions (`name` or `name:version`) that use it. Published
/// versions count: an alias may point at one, and deleting its layer would break a rollback.
async fn layer_users(client: &Client) -> Result<BTreeMap<String, BTreeSet<String>>, DeployError> {
    let mut users: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut marker = None;
    loop {
        let out = client
            .list_functions()
            .function_version(FunctionVersion::All)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| aws_error("ListFunctions", "(all functions)", e))?;
        for f in out.functions() {
            let name = f.function_name().unwrap_or_default();
            let who = match f.version() {
                None | Some("$LATEST") => name.to_string(),
                Some(v) => format!("{name}:{v}"),
            };
            for arn in f.layers().iter().filter_map(|l| l.arn()) {
                users
                    .entry(arn.to_string())
                    .or_default()
                    .insert(who.clone());
            }
        }
        marker = out.next_marker().map(str::to_string);
        if marker.is_none() {
            return Ok(users);
        }
    }
}
