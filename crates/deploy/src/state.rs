//! `state`: local spec against what is deployed, per function; changes nothing.

use std::fmt::Write as _;

use aws_sdk_lambda::Client;
use serde::Serialize;

use crate::DeployError;
use crate::diff::{
    Change, TagChanges, code_reason, config_changes, deployed_tenancy, local_tenancy, tag_changes,
};
use crate::input::FunctionPlanInput;
use crate::plan::resolve_layers;
use crate::remote::{self, short_layer};

/// Per function, how the deployed function differs from the local one.
#[derive(Clone, Debug, Serialize)]
pub struct StateReport {
    /// In the order given.
    pub functions: Vec<FunctionState>,
}

/// How one deployed function differs from its spec.
#[derive(Clone, Debug, Serialize)]
pub struct FunctionState {
    /// The function.
    pub name: String,
    /// The local zip's `CodeSha256`; `None`: not built.
    pub local_code_sha256: Option<String>,
    /// The deployed `CodeSha256`; `None`: not deployed.
    pub deployed_code_sha256: Option<String>,
    /// Why the code would be uploaded (`None`: same code, or nothing to compare).
    pub code_drift: Option<String>,
    /// Configuration keys that differ.
    pub config_drift: Vec<Change>,
    /// Tags that differ.
    pub tag_drift: TagChanges,
    /// Deployed layers that have a newer version.
    pub layers_behind: Vec<LayerBehind>,
    /// The deployed `TenantIsolationMode` (`None`: no tenant isolation, or not deployed).
    pub deployed_tenancy: Option<String>,
    /// The spec's `TenantIsolationMode` (`None`: no tenant isolation).
    pub local_tenancy: Option<String>,
}

/// A deployed layer version with a newer version published.
#[derive(Clone, Debug, Serialize)]
pub struct LayerBehind {
    /// The version the function uses (ARN).
    pub deployed: String,
    /// The newest version (ARN).
    pub latest: String,
}

impl FunctionState {
    /// Deployed, and nothing differs.
    pub fn in_sync(&self) -> bool {
        self.deployed_code_sha256.is_some()
            && self.local_code_sha256.is_some()
            && self.code_drift.is_none()
            && self.config_drift.is_empty()
            && self.tag_drift.is_empty()
            && self.layers_behind.is_empty()
            && self.deployed_tenancy == self.local_tenancy
    }
}

/// Compares each function's spec with its deployed configuration, code and tags.
pub async fn state(
    client: &Client,
    inputs: &[FunctionPlanInput],
) -> Result<StateReport, DeployError> {
    let (_, resolved) = resolve_layers(client, inputs).await?;
    let mut functions = Vec::new();
    for (input, layers) in inputs.iter().zip(resolved) {
        let mut fs = FunctionState {
            name: input.name.clone(),
            local_code_sha256: input.code_sha256.clone(),
            deployed_code_sha256: None,
            code_drift: None,
            config_drift: Vec::new(),
            tag_drift: TagChanges::default(),
            layers_behind: Vec::new(),
            deployed_tenancy: None,
            local_tenancy: local_tenancy(input),
        };
        if let Some(deployed) = remote::get_function(client, &input.name).await? {
            let config = deployed
                .configuration()
                .cloned()
                .unwrap_or_else(|| aws_sdk_lambda::types::FunctionConfiguration::builder().build());
            fs.deployed_code_sha256 = Some(config.code_sha256().unwrap_or_default().to_string());
            if let Some(local) = &input.code_sha256 {
                fs.code_drift = code_reason(input, local, &config);
            }
            fs.config_drift = config_changes(input, &layers, &config);
            fs.deployed_tenancy = deployed_tenancy(&config);
            fs.tag_drift = tag_changes(&input.tags, deployed.tags());
            let account = config
                .function_arn()
                .and_then(|a| a.split(':').nth(4))
                .unwrap_or_default();
            for arn in config.layers().iter().filter_map(|l| l.arn()) {
                // Another account's layer is asked for by ARN (it may not let us list it);
                // our own by name, which every Lambda API server understands.
                let Some((layer_arn, _)) = arn.rsplit_once(':') else {
                    continue;
                };
                let same_account = arn.split(':').nth(4) == Some(account);
                let key = if same_account {
                    remote::layer_name_of(arn).unwrap_or(layer_arn)
                } else {
                    layer_arn
                };
                let Ok(versions) = remote::layer_versions(client, key).await else {
                    continue;
                };
                if let Some(latest) = versions.first().filter(|l| l.arn != arn) {
                    fs.layers_behind.push(LayerBehind {
                        deployed: arn.to_string(),
                        latest: latest.arn.clone(),
                    });
                }
            }
        }
        functions.push(fs);
    }
    Ok(StateReport { functions })
}

impl StateReport {
    /// The report as text; `colour` adds ANSI colours (only when the output is a terminal).
    pub fn render(&self, colour: bool) -> String {
        let paint = |code: &str, text: &str| {
            if colour {
                format!("\x1b[{code}m{text}\x1b[0m")
            } else {
                text.to_string()
            }
        };
        let (green, yellow, red) = ("32", "33", "31");
        let mut out = String::new();
        for f in &self.functions {
            let Some(deployed_sha) = &f.deployed_code_sha256 else {
                let built = match &f.local_code_sha256 {
                    Some(sha) => format!("local zip CodeSha256 {sha}"),
                    None => "local zip not built".to_string(),
                };
                let _ = writeln!(out, "{}: {} ({built})", f.name, paint(red, "not deployed"));
                continue;
            };
            let head = if f.in_sync() {
                paint(green, "in sync")
            } else {
                paint(yellow, "differs")
            };
            let _ = writeln!(out, "{}: {head}", f.name);
            let code = match (&f.local_code_sha256, &f.code_drift) {
                (None, _) => format!("local zip not built; deployed CodeSha256 {deployed_sha}"),
                (Some(_), Some(reason)) => paint(yellow, reason),
                (Some(_), None) => format!("same (CodeSha256 {deployed_sha})"),
            };
            let _ = writeln!(out, "  code: {code}");
            if f.config_drift.is_empty() {
                let _ = writeln!(out, "  configuration: same");
            }
            for change in &f.config_drift {
                let _ = writeln!(
                    out,
                    "  configuration (deployed -> local): {}",
                    paint(yellow, &change.to_string())
                );
            }
            let _ = writeln!(
                out,
                "  tenancy: {}",
                tenancy_line(f, &|text| paint(yellow, text))
            );
            if !f.tag_drift.is_empty() {
                let _ = writeln!(out, "  tags: {}", paint(yellow, &f.tag_drift.to_string()));
            }
            if f.layers_behind.is_empty() {
                let _ = writeln!(out, "  layers: no newer version");
            }
            for behind in &f.layers_behind {
                let text = format!(
                    "{} is behind {}",
                    short_layer(&behind.deployed),
                    short_layer(&behind.latest)
                );
                let _ = writeln!(out, "  layers: {}", paint(yellow, &text));
            }
        }
        out
    }
}

/// The tenant isolation line: the mode when both sides agree, else both and why deploying
/// cannot fix it (Lambda sets it at creation only).
fn tenancy_line(f: &FunctionState, paint: &dyn Fn(&str) -> String) -> String {
    let shown = |mode: &Option<String>| mode.clone().unwrap_or_else(|| "none".to_string());
    if f.deployed_tenancy == f.local_tenancy {
        return shown(&f.deployed_tenancy);
    }
    paint(&format!(
        "{} deployed, {} local (set only when the function is created)",
        shown(&f.deployed_tenancy),
        shown(&f.local_tenancy)
    ))
}

impl std::fmt::Display for StateReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(false))
    }
}
