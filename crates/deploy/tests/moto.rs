//! lamina-deploy's function deploys against moto in server mode: a real AWS API server on
//! loopback. Needs moto in target/tools/moto (see `common::INSTALL`); LAMINA_SKIP_MOTO=1 skips.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

mod common;

use common::{ACCOUNT, REGION, changing, deploy, fast, layer_arn, moto};
use lamina_deploy::{ApplyOptions, DeployError, FunctionPlanInput, Plan, apply, plan};

#[tokio::test]
async fn first_deploy_creates_everything_and_a_second_changes_nothing() {
    let Some(m) = moto().await else { return };
    let f = m.function(
        "hello",
        "#!/bin/sh\necho v1\n",
        vec![m.layer("tools", "tool v1")],
    );

    let (p, report, ops) = deploy(&m, std::slice::from_ref(&f), &fast()).await;
    insta::assert_snapshot!("first_plan", p.to_string());
    assert_eq!(
        changing(&ops),
        ["PublishLayerVersion", "CreateFunction"],
        "{ops:?}"
    );
    assert_eq!(report.published_layers, [layer_arn("tools", 1)]);

    let got = m
        .client
        .get_function()
        .function_name("hello")
        .send()
        .await
        .unwrap();
    let c = got.configuration().unwrap();
    assert_eq!(c.code_sha256(), f.code_sha256.as_deref());
    assert_eq!(c.handler(), Some("handler.main"));
    assert_eq!(c.runtime().map(|r| r.as_str()), Some("provided.al2023"));
    assert_eq!(c.memory_size(), Some(128));
    assert_eq!(c.timeout(), Some(10));
    assert_eq!(c.role(), Some(m.role_arn.as_str()));
    assert_eq!(c.description(), Some("a lamina test function"));
    assert_eq!(
        c.environment().unwrap().variables().unwrap()["GREETING"],
        "hello"
    );
    let layers: Vec<&str> = c.layers().iter().filter_map(|l| l.arn()).collect();
    assert_eq!(layers, [layer_arn("tools", 1)]);
    assert_eq!(got.tags().unwrap()["team"], "lamina");

    // The same inputs again: nothing is published, created, updated or tagged.
    let (p, report, ops) = deploy(&m, &[f], &fast()).await;
    assert!(p.is_noop(), "{p}");
    insta::assert_snapshot!("unchanged_plan", p.to_string());
    assert_eq!(changing(&ops), Vec::<&str>::new(), "{ops:?}");
    assert_eq!(report.to_string(), "function hello: unchanged\n");
}

#[tokio::test]
async fn changed_code_updates_the_code_only() {
    let Some(m) = moto().await else { return };
    deploy(&m, &[m.function("hello", "v1", vec![])], &fast()).await;
    let f = m.function("hello", "v2 is longer", vec![]);
    let (p, _, ops) = deploy(&m, std::slice::from_ref(&f), &fast()).await;
    assert!(
        p.to_string()
            .contains("function hello: update code (CodeSha256"),
        "{p}"
    );
    assert!(
        p.to_string()
            .contains("function hello: skip configuration (no key differs)"),
        "{p}"
    );
    assert_eq!(changing(&ops), ["UpdateFunctionCode"], "{ops:?}");
    let c = m
        .client
        .get_function_configuration()
        .function_name("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(c.code_sha256(), f.code_sha256.as_deref());
}

#[tokio::test]
async fn changed_memory_updates_the_configuration_only() {
    let Some(m) = moto().await else { return };
    let mut f = m.function("hello", "v1", vec![]);
    deploy(&m, std::slice::from_ref(&f), &fast()).await;
    f.memory_mb = 256;
    f.environment.insert("EXTRA".into(), "secret value".into());
    let (p, _, ops) = deploy(&m, std::slice::from_ref(&f), &fast()).await;
    insta::assert_snapshot!("memory_plan", p.to_string());
    assert_eq!(changing(&ops), ["UpdateFunctionConfiguration"], "{ops:?}");
    let c = m
        .client
        .get_function_configuration()
        .function_name("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(c.memory_size(), Some(256));
    assert_eq!(
        c.environment().unwrap().variables().unwrap()["EXTRA"],
        "secret value"
    );
    // Neither the plan's text nor its JSON shows the value.
    let json = serde_json::to_string(&p).unwrap();
    assert!(
        json.contains("EXTRA") && !json.contains("secret value"),
        "{json}"
    );
    assert!(!p.to_string().contains("secret value"));
    // Applied once, the plan is empty again.
    assert!(plan(&m.client, &[f]).await.unwrap().is_noop());
}

#[tokio::test]
async fn state_shows_drift_made_out_of_band() {
    let Some(m) = moto().await else { return };
    let f = m.function("hello", "v1", vec![]);
    let not_deployed = m.function("other", "other", vec![]);
    deploy(&m, std::slice::from_ref(&f), &fast()).await;
    let s = lamina_deploy::state(&m.client, &[f.clone(), not_deployed.clone()])
        .await
        .unwrap();
    assert!(s.functions[0].in_sync(), "{s}");
    insta::assert_snapshot!("state_in_sync", s.to_string());

    m.boto3(
        "c('lambda').update_function_configuration(FunctionName='hello', MemorySize=512, Environment={'Variables': {'GREETING': 'changed'}})\n\
         arn = c('lambda').get_function(FunctionName='hello')['Configuration']['FunctionArn']\n\
         c('lambda').tag_resource(Resource=arn, Tags={'owner': 'someone'})",
    );
    let s = lamina_deploy::state(&m.client, &[f, not_deployed])
        .await
        .unwrap();
    insta::assert_snapshot!("state_drift", s.to_string());
    let json = serde_json::to_value(&s).unwrap();
    let drift = &json["functions"][0]["config_drift"];
    assert_eq!(drift[0]["key"], "memory_mb");
    assert_eq!(drift[0]["deployed"], "512");
    assert_eq!(drift[0]["local"], "128");
    assert_eq!(drift[1]["key"], "environment.GREETING");
    assert_eq!(json["functions"][0]["tag_drift"]["remove"][0], "owner");
    assert!(json["functions"][1]["deployed_code_sha256"].is_null());
    // The colour is only added when asked for.
    assert!(!s.render(false).contains('\x1b'));
    assert!(s.render(true).contains("\x1b[33m"));
}

#[tokio::test]
async fn publish_moves_an_alias_to_the_new_version() {
    let Some(m) = moto().await else { return };
    let options = ApplyOptions {
        publish: true,
        alias: Some("live".into()),
        ..fast()
    };
    let (_, report, _) = deploy(&m, &[m.function("hello", "v1", vec![])], &options).await;
    assert_eq!(
        report.functions[0].steps,
        ["created", "published version 1", "alias live -> 1"]
    );
    let (_, report, _) = deploy(&m, &[m.function("hello", "v2 longer", vec![])], &options).await;
    assert_eq!(
        report.functions[0].steps,
        ["code updated", "published version 2", "alias live -> 2"]
    );
    let alias = m
        .client
        .get_alias()
        .function_name("hello")
        .name("live")
        .send()
        .await
        .unwrap();
    assert_eq!(alias.function_version(), Some("2"));
}

#[tokio::test]
async fn a_role_lambda_cannot_assume_is_named_with_what_to_do() {
    let Some(m) = moto().await else { return };
    let mut f = m.function("hello", "v1", vec![]);
    f.role = Some(format!("arn:aws:iam::{ACCOUNT}:role/does-not-exist"));
    let p = plan(&m.client, &[f]).await.unwrap();
    let err = apply(&m.client, &p, &fast()).await.unwrap_err();
    assert!(
        matches!(err, DeployError::RoleCannotBeAssumed { .. }),
        "{err}"
    );
    insta::assert_snapshot!("role_error", err.to_string());

    let mut f = m.function("hello", "v1", vec![]);
    f.role = None;
    let err = plan(&m.client, &[f]).await.unwrap_err();
    assert!(matches!(err, DeployError::NoRole { .. }), "{err}");
}

#[tokio::test]
async fn invoke_remote_returns_status_and_payload() {
    let Some(m) = moto().await else { return };
    deploy(&m, &[m.function("hello", "v1", vec![])], &fast()).await;
    let out = lamina_deploy::invoke_remote(&m.client, "hello", None, br#"{"x":1}"#.to_vec())
        .await
        .unwrap();
    assert_eq!(out.status, 200);
    assert_eq!(out.function_error, None);
    // moto's Docker-free Lambda answers with the event itself.
    assert_eq!(out.payload, br#"{"x":1}"#);
    // Not asserted: the decoded log tail. moto's Docker-free Invoke sends no
    // X-Amz-Log-Result header (its LambdaSimpleBackend.invoke writes no log).
}

#[tokio::test]
async fn no_credentials_is_named_with_what_to_do() {
    // The error the default chain gives when no provider has credentials; the server is
    // never reached, so no moto is needed.
    #[derive(Debug)]
    struct Nothing;
    impl lamina_deploy::aws_sdk_lambda::config::ProvideCredentials for Nothing {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            aws_credential_types::provider::future::ProvideCredentials::ready(Err(
                aws_credential_types::provider::error::CredentialsError::not_loaded(
                    "no providers in chain provided credentials",
                ),
            ))
        }
    }
    let config = lamina_deploy::config_loader(&lamina_deploy::ClientOptions {
        region: Some(REGION.into()),
        endpoint_url: Some("http://127.0.0.1:9".into()),
        profile: None,
    })
    .credentials_provider(Nothing)
    .load()
    .await;
    let client = lamina_deploy::lambda_client(&config).unwrap();
    let err = lamina_deploy::invoke_remote(&client, "hello", None, Vec::new())
        .await
        .unwrap_err();
    assert!(matches!(err, DeployError::NoCredentials { .. }), "{err}");
    insta::assert_snapshot!("no_credentials", err.to_string());
}

#[cfg(feature = "iam")]
#[tokio::test]
async fn create_role_makes_a_basic_execution_role_a_function_can_use() {
    let Some(m) = moto().await else { return };
    let config = lamina_deploy::config_loader(&lamina_deploy::ClientOptions {
        region: Some(REGION.into()),
        endpoint_url: Some(m.url.clone()),
        profile: None,
    })
    .credentials_provider(lamina_deploy::aws_sdk_lambda::config::Credentials::new(
        "testing", "testing", None, None, "tests",
    ))
    .load()
    .await;
    let iam = lamina_deploy::aws_sdk_iam::Client::new(&config);
    let name = lamina_deploy::basic_role_name("hello");
    let role = lamina_deploy::create_basic_role(&iam, &name).await.unwrap();
    assert!(role.created);
    assert_eq!(
        role.arn,
        format!("arn:aws:iam::{ACCOUNT}:role/lamina-hello")
    );
    insta::assert_snapshot!("created_role", role.to_string());
    let attached = m.boto3(
        "print([p['PolicyArn'] for p in c('iam').list_attached_role_policies(RoleName='lamina-hello')['AttachedPolicies']])",
    );
    assert_eq!(
        attached,
        format!("['{}']", lamina_deploy::BASIC_EXECUTION_POLICY)
    );
    let trust = m.boto3(
        "print(c('iam').get_role(RoleName='lamina-hello')['Role']['AssumeRolePolicyDocument'])",
    );
    assert!(trust.contains("lambda.amazonaws.com"), "{trust}");

    // A second run reuses it.
    let again = lamina_deploy::create_basic_role(&iam, &name).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.arn, role.arn);

    let mut f = m.function("hello", "v1", vec![]);
    f.role = Some(role.arn.clone());
    let options = ApplyOptions {
        new_role_grace: std::time::Duration::from_secs(10),
        ..fast()
    };
    let (_, report, _) = deploy(&m, &[f], &options).await;
    assert_eq!(report.functions[0].steps, ["created"]);
}

#[tokio::test]
async fn a_zip_over_50_mb_without_a_bucket_is_refused_before_any_call() {
    // No server needed: the size is checked before the request is made.
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("big.zip");
    // Sparse: 50 MB + 1 byte without writing them.
    std::fs::File::create(&zip)
        .unwrap()
        .set_len(lamina_deploy::DIRECT_UPLOAD_LIMIT + 1)
        .unwrap();
    let ops = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let client = common::client("http://127.0.0.1:9", ops.clone()).await;
    let input = FunctionPlanInput {
        name: "big".into(),
        zip_path: zip,
        code_sha256: Some("unused=".into()),
        handler: "h".into(),
        runtime: "provided.al2023".into(),
        architectures: vec![lamina_deploy::Arch::X86_64],
        memory_mb: 128,
        timeout_s: 3,
        ephemeral_storage_mb: 512,
        environment: Default::default(),
        layers: Vec::new(),
        role: Some(format!("arn:aws:iam::{ACCOUNT}:role/r")),
        vpc: None,
        description: String::new(),
        tags: Default::default(),
        per_tenant: false,
    };
    let p = Plan {
        layers: Vec::new(),
        functions: vec![lamina_deploy::FunctionPlan {
            input,
            layers: Vec::new(),
            action: lamina_deploy::FunctionAction::Create,
        }],
    };
    let err = apply(&client, &p, &fast()).await.unwrap_err();
    assert!(matches!(err, DeployError::ZipTooLarge { .. }), "{err}");
    assert!(err.to_string().contains("--s3-bucket"), "{err}");
    assert!(ops.lock().unwrap().is_empty());
}

#[cfg(feature = "s3")]
#[tokio::test]
async fn with_an_s3_bucket_code_and_layers_go_through_it() {
    let Some(m) = moto().await else { return };
    m.boto3("c('s3').create_bucket(Bucket='lamina-artifacts')");
    let config = lamina_deploy::config_loader(&lamina_deploy::ClientOptions {
        region: Some(REGION.into()),
        endpoint_url: Some(m.url.clone()),
        profile: None,
    })
    .credentials_provider(lamina_deploy::aws_sdk_lambda::config::Credentials::new(
        "testing", "testing", None, None, "tests",
    ))
    .load()
    .await;
    let options = ApplyOptions {
        s3: Some(lamina_deploy::S3Upload {
            client: lamina_deploy::s3_client(&config),
            bucket: "lamina-artifacts".into(),
            prefix: "lamina/".into(),
        }),
        ..fast()
    };
    let f = m.function("hello", "v1", vec![m.layer("tools", "tool v1")]);
    let (_, _, ops) = deploy(&m, std::slice::from_ref(&f), &options).await;
    assert_eq!(
        changing(&ops),
        ["PublishLayerVersion", "CreateFunction"],
        "{ops:?}"
    );
    let keys = m.boto3(
        "print(sorted(o['Key'] for o in c('s3').list_objects_v2(Bucket='lamina-artifacts')['Contents']))",
    );
    assert!(
        keys.contains("'lamina/hello/") && keys.contains("'lamina/tools/"),
        "{keys}"
    );
    // Lambda hashed the bytes it read from S3: they are the local zip's.
    let c = m
        .client
        .get_function_configuration()
        .function_name("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(c.code_sha256(), f.code_sha256.as_deref());
    let (_, _, ops) = deploy(&m, std::slice::from_ref(&f), &options).await;
    assert_eq!(changing(&ops), Vec::<&str>::new(), "{ops:?}");

    let f = m.function("hello", "v2 longer", vec![m.layer("tools", "tool v1")]);
    let (_, _, ops) = deploy(&m, std::slice::from_ref(&f), &options).await;
    assert_eq!(changing(&ops), ["UpdateFunctionCode"], "{ops:?}");
    let c = m
        .client
        .get_function_configuration()
        .function_name("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(c.code_sha256(), f.code_sha256.as_deref());
}
