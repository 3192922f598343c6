//! The Lambda reads that plan, state and prune share.

use aws_sdk_lambda::Client;
use aws_sdk_lambda::operation::get_function::GetFunctionOutput;

use crate::DeployError;
use crate::error::aws_error;

/// One published layer version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LayerVersion {
    pub(crate) version: i64,
    pub(crate) arn: String,
}

/// The deployed function, or `None` when it does not exist.
pub(crate) async fn get_function(
    client: &Client,
    name: &str,
) -> Result<Option<GetFunctionOutput>, DeployError> {
    match client.get_function().function_name(name).send().await {
        Ok(out) => Ok(Some(out)),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(err) => Err(aws_error("GetFunction", name, err)),
    }
}

/// Every version of a layer, newest first; empty when the layer has none.
pub(crate) async fn layer_versions(
    client: &Client,
    name: &str,
) -> Result<Vec<LayerVersion>, DeployError> {
    let mut versions = Vec::new();
    let mut marker = None;
    loop {
        let out = client
            .list_layer_versions()
            .layer_name(name)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| aws_error("ListLayerVersions", name, e))?;
        for v in out.layer_versions() {
            if let Some(arn) = v.layer_version_arn() {
                versions.push(LayerVersion {
                    version: v.version(),
                    arn: arn.to_string(),
                });
            }
        }
        marker = out.next_marker().map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    // AWS lists newest first, moto oldest first: order by the number, not the answer.
    versions.sort_by_key(|v| std::cmp::Reverse(v.version));
    Ok(versions)
}

/// The newest version of a layer and its `CodeSha256`, or `None` when it has none.
pub(crate) async fn latest_layer_version(
    client: &Client,
    name: &str,
) -> Result<Option<(LayerVersion, String)>, DeployError> {
    let Some(latest) = layer_versions(client, name).await?.into_iter().next() else {
        return Ok(None);
    };
    // ListLayerVersions carries no CodeSha256: ask for the one version.
    let out = client
        .get_layer_version()
        .layer_name(name)
        .version_number(latest.version)
        .send()
        .await
        .map_err(|e| aws_error("GetLayerVersion", name, e))?;
    let sha = out
        .content()
        .and_then(|c| c.code_sha256())
        .unwrap_or_default()
        .to_string();
    Ok(Some((latest, sha)))
}

/// The ARN of `name:version`, or [`DeployError::LayerNotFound`].
pub(crate) async fn layer_version_arn(
    client: &Client,
    name: &str,
    version: i64,
) -> Result<String, DeployError> {
    let label = format!("{name}:{version}");
    match client
        .get_layer_version()
        .layer_name(name)
        .version_number(version)
        .send()
        .await
    {
        Ok(out) => out
            .layer_version_arn()
            .map(str::to_string)
            .ok_or(DeployError::LayerNotFound { name: label }),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Err(DeployError::LayerNotFound { name: label })
        }
        Err(err) => Err(aws_error("GetLayerVersion", &label, err)),
    }
}

/// The layer name in a layer version ARN (`arn:aws:lambda:R:A:layer:NAME:N`).
pub(crate) fn layer_name_of(arn: &str) -> Option<&str> {
    let mut parts = arn.rsplitn(3, ':');
    let _version = parts.next()?;
    parts.next()
}

/// The layer name and version in a layer version ARN, for short display.
pub(crate) fn short_layer(arn: &str) -> String {
    match arn.rsplitn(3, ':').collect::<Vec<_>>().as_slice() {
        [version, name, _] => format!("{name}:{version}"),
        _ => arn.to_string(),
    }
}
