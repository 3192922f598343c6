//! Tenant isolation on deploy: CreateFunction carries `TenancyConfig` (PER_TENANT) for a
//! function whose spec asks for it, a change of a deployed function's tenancy is refused
//! before any call (Lambda sets it at creation only), and `state` shows it.
//!
//! moto 5.2.5 ignores `TenancyConfig` (its Lambda model has no such field: CreateFunction
//! accepts it and GetFunction never returns it), so the request is checked as the SDK sends
//! it, read by an interceptor just before it goes out, against the SDK's model
//! (`shape_create_function_input`: `"TenancyConfig": {"TenantIsolationMode": "PER_TENANT"}`).
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

mod common;

use std::sync::{Arc, Mutex};

use aws_sdk_lambda::config::{ConfigBag, Credentials, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use common::{REGION, fast, moto};
use lamina_deploy::aws_sdk_lambda;
use lamina_deploy::{ClientOptions, DeployError, apply, plan, state};

/// One request as sent: its operation's name, its `X-Amz-Tenant-Id` and its body.
type Request = (String, Option<String>, Vec<u8>);

/// Every request, as sent.
#[derive(Debug, Clone, Default)]
struct Sent(Arc<Mutex<Vec<Request>>>);

impl Intercept for Sent {
    fn name(&self) -> &'static str {
        "Sent"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg
            .load::<Metadata>()
            .map(|meta| meta.name().to_string())
            .unwrap_or_default();
        let request = context.request();
        let tenant = request.headers().get("X-Amz-Tenant-Id").map(str::to_string);
        let body = request.body().bytes().unwrap_or_default().to_vec();
        self.0.lock().unwrap().push((name, tenant, body));
        Ok(())
    }
}

impl Sent {
    /// The JSON bodies of the `operation` requests sent so far.
    fn bodies(&self, operation: &str) -> Vec<serde_json::Value> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(name, _, _)| name == operation)
            .map(|(_, _, body)| serde_json::from_slice(body).unwrap())
            .collect()
    }

    /// The `X-Amz-Tenant-Id` of each `operation` request sent so far.
    fn tenants(&self, operation: &str) -> Vec<Option<String>> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(name, _, _)| name == operation)
            .map(|(_, tenant, _)| tenant.clone())
            .collect()
    }

    fn operations(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(name, _, _)| name.clone())
            .collect()
    }
}

async fn client(url: &str, sent: &Sent) -> aws_sdk_lambda::Client {
    let config = lamina_deploy::config_loader(&ClientOptions {
        region: Some(REGION.into()),
        endpoint_url: Some(url.into()),
        profile: None,
    })
    .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
    .load()
    .await;
    let conf = aws_sdk_lambda::config::Builder::from(&config)
        .interceptor(sent.clone())
        .build();
    aws_sdk_lambda::Client::from_conf(conf)
}

#[tokio::test]
async fn create_function_carries_per_tenant_and_only_for_a_per_tenant_spec() {
    let Some(m) = moto().await else { return };
    let sent = Sent::default();
    let client = client(&m.url, &sent).await;
    let mut isolated = m.function("isolated", "#!/bin/sh\n", vec![]);
    isolated.per_tenant = true;
    let shared = m.function("shared", "#!/bin/sh\n", vec![]);
    let planned = plan(&client, &[isolated.clone(), shared]).await.unwrap();
    apply(&client, &planned, &fast()).await.unwrap();

    let created = sent.bodies("CreateFunction");
    assert_eq!(created.len(), 2, "{:?}", sent.operations());
    let by_name = |name: &str| {
        created
            .iter()
            .find(|body| body["FunctionName"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        by_name("isolated")["TenancyConfig"],
        serde_json::json!({"TenantIsolationMode": "PER_TENANT"})
    );
    assert!(by_name("shared").get("TenancyConfig").is_none());

    // What moto keeps of it: nothing (5.2.5). Where a server returns it, it must be PER_TENANT.
    let got = client
        .get_function_configuration()
        .function_name("isolated")
        .send()
        .await
        .unwrap();
    if let Some(tenancy) = got.tenancy_config() {
        assert_eq!(tenancy.tenant_isolation_mode().as_str(), "PER_TENANT");
    }
}

#[tokio::test]
async fn a_changed_tenancy_is_refused_before_any_call_and_state_shows_it() {
    let Some(m) = moto().await else { return };
    let sent = Sent::default();
    let client = client(&m.url, &sent).await;
    let shared = m.function("hello", "#!/bin/sh\n", vec![]);
    let planned = plan(&client, std::slice::from_ref(&shared)).await.unwrap();
    apply(&client, &planned, &fast()).await.unwrap();
    let report = state(&client, std::slice::from_ref(&shared)).await.unwrap();
    assert!(report.to_string().contains("  tenancy: none\n"), "{report}");

    let mut isolated = shared;
    isolated.per_tenant = true;
    let before = sent.operations().len();
    let refused = plan(&client, std::slice::from_ref(&isolated))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, DeployError::TenancyChange { .. }),
        "{refused}"
    );
    insta::assert_snapshot!(refused.to_string(), @"function hello: tenant isolation is none deployed and PER_TENANT in the spec, and Lambda sets it only when it creates a function (CreateFunction's TenancyConfig; UpdateFunctionConfiguration has none): delete the function and deploy again, or deploy it under another name");
    // Planning only read the account.
    assert!(
        sent.operations()[before..]
            .iter()
            .all(|op| op.starts_with("Get") || op.starts_with("List")),
        "{:?}",
        sent.operations()
    );
    let report = state(&client, std::slice::from_ref(&isolated))
        .await
        .unwrap();
    assert!(!report.functions[0].in_sync());
    assert!(
        report.to_string().contains(
            "  tenancy: none deployed, PER_TENANT local (set only when the function is created)\n"
        ),
        "{report}"
    );
}

#[tokio::test]
async fn invoke_remote_sends_the_tenant_as_the_sdk_models_it() {
    let Some(m) = moto().await else { return };
    let sent = Sent::default();
    let client = client(&m.url, &sent).await;
    let f = m.function("hello", "#!/bin/sh\n", vec![]);
    let planned = plan(&client, std::slice::from_ref(&f)).await.unwrap();
    apply(&client, &planned, &fast()).await.unwrap();
    // moto 5.2.5 ignores the header (and tenancy): the request is what is checked.
    lamina_deploy::invoke_remote(&client, "hello", Some("blue"), b"{}".to_vec())
        .await
        .unwrap();
    lamina_deploy::invoke_remote(&client, "hello", None, b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(sent.tenants("Invoke"), [Some("blue".to_string()), None]);
}
