//! `AWS_ENDPOINT_URL` is honoured as the AWS CLI honours it. Its own test binary, with one
//! test: it sets a process-wide environment variable.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

mod common;

use lamina_deploy::aws_sdk_lambda::config::Credentials;

#[tokio::test]
async fn aws_endpoint_url_from_the_environment_is_used() {
    let Some(m) = common::moto().await else {
        return;
    };
    // SAFETY: the only test of this binary, and no other thread of it reads the environment
    // while this one writes it (the SDK reads it in `load` below, on this thread).
    unsafe { std::env::set_var("AWS_ENDPOINT_URL", &m.url) };
    let config = lamina_deploy::config_loader(&lamina_deploy::ClientOptions {
        region: Some(common::REGION.into()),
        ..Default::default()
    })
    .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
    .load()
    .await;
    // Checked before any call, so that a failure never sends a request to AWS itself.
    assert_eq!(config.endpoint_url(), Some(m.url.as_str()));
    let client = lamina_deploy::lambda_client(&config).unwrap();
    deploy_one(&m, &client).await;
}

async fn deploy_one(m: &common::Moto, client: &lamina_deploy::aws_sdk_lambda::Client) {
    let f = m.function("hello", "v1", vec![]);
    let p = lamina_deploy::plan(client, &[f]).await.unwrap();
    lamina_deploy::apply(client, &p, &common::fast())
        .await
        .unwrap();
    // The function is on moto, created through the client that had no endpoint of its own.
    let names =
        m.boto3("print([f['FunctionName'] for f in c('lambda').list_functions()['Functions']])");
    assert_eq!(names, "['hello']");
}
