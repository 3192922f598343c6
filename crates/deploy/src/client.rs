//! Building the Lambda client from the standard AWS configuration chain.

use aws_config::{BehaviorVersion, ConfigLoader, Region};
use aws_sdk_lambda::Client;

use crate::DeployError;

/// Where and as whom to talk to AWS; every field overrides the standard chain
/// (environment, shared config and credentials files, SSO, container and instance roles).
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// `--region`; otherwise `AWS_REGION` / `AWS_DEFAULT_REGION` / the profile's `region`.
    pub region: Option<String>,
    /// `--endpoint-url` (a local AWS API server, for instance); otherwise `AWS_ENDPOINT_URL`
    /// (or `AWS_ENDPOINT_URL_LAMBDA`) and the profile's `endpoint_url`, as the AWS CLI does.
    pub endpoint_url: Option<String>,
    /// `--profile`; otherwise `AWS_PROFILE`.
    pub profile: Option<String>,
}

/// A configuration loader with lamina's HTTP client (rustls on ring) and the options applied;
/// call `.load().await` on it, or adjust it first (tests give it fixed credentials).
pub fn config_loader(options: &ClientOptions) -> ConfigLoader {
    // aws-config's own default client would pull in aws-lc-sys (a long C build); ring is
    // already the TLS backend of the SSO credential provider, so it costs nothing more.
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
    }
    loader
}

/// A Lambda client from a loaded configuration; refuses a configuration without a region
/// (the SDK would only fail at the first call, with a less helpful message).
pub fn lambda_client(config: &aws_config::SdkConfig) -> Result<Client, DeployError> {
    if config.region().is_none() {
        return Err(DeployError::NoRegion);
    }
    Ok(Client::new(config))
}

/// The Lambda client for `options`: [`config_loader`], then [`lambda_client`].
/// Missing credentials show at the first call, as [`DeployError::NoCredentials`].
pub async fn connect(options: &ClientOptions) -> Result<Client, DeployError> {
    lambda_client(&config_loader(options).load().await)
}
