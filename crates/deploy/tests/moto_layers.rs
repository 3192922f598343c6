//! lamina-deploy's layers against moto in server mode: publish, resolve, prune, and the
//! functions that use them. Needs moto in target/tools/moto; LAMINA_SKIP_MOTO=1 skips.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

mod common;

use common::{changing, deploy, fast, layer_arn, moto};
use lamina_deploy::{DeployError, LayerRef, apply, plan};

#[tokio::test]
async fn a_changed_layer_publishes_version_2_and_moves_the_function_to_it() {
    let Some(m) = moto().await else { return };
    deploy(
        &m,
        &[m.function("hello", "v1", vec![m.layer("tools", "tool v1")])],
        &fast(),
    )
    .await;
    let f = m.function("hello", "v1", vec![m.layer("tools", "tool v2!")]);
    let (p, report, ops) = deploy(&m, std::slice::from_ref(&f), &fast()).await;
    insta::assert_snapshot!("layer_plan", p.to_string());
    assert_eq!(
        changing(&ops),
        ["PublishLayerVersion", "UpdateFunctionConfiguration"],
        "{ops:?}"
    );
    assert_eq!(report.published_layers, [layer_arn("tools", 2)]);
    let c = m
        .client
        .get_function_configuration()
        .function_name("hello")
        .send()
        .await
        .unwrap();
    let layers: Vec<&str> = c.layers().iter().filter_map(|l| l.arn()).collect();
    assert_eq!(layers, [layer_arn("tools", 2)]);
}

#[tokio::test]
async fn layer_names_and_pinned_versions_resolve_and_a_missing_name_is_named() {
    let Some(m) = moto().await else { return };
    deploy(
        &m,
        &[m.function("a", "a", vec![m.layer("tools", "tool v1")])],
        &fast(),
    )
    .await;
    deploy(
        &m,
        &[m.function("a", "a", vec![m.layer("tools", "tool v2!")])],
        &fast(),
    )
    .await;
    let by_name = m.function("b", "b", vec![LayerRef::parse_remote("tools").unwrap()]);
    let pinned = m.function("c", "c", vec![LayerRef::parse_remote("tools:1").unwrap()]);
    let p = plan(&m.client, &[by_name, pinned]).await.unwrap();
    assert_eq!(
        p.functions[0].layers,
        [lamina_deploy::PlannedLayer::Arn(layer_arn("tools", 2))]
    );
    assert_eq!(
        p.functions[1].layers,
        [lamina_deploy::PlannedLayer::Arn(layer_arn("tools", 1))]
    );

    let missing = m.function("d", "d", vec![LayerRef::parse_remote("nope").unwrap()]);
    let err = plan(&m.client, &[missing]).await.unwrap_err();
    assert!(
        matches!(err, DeployError::LayerNotFound { ref name } if name == "nope"),
        "{err}"
    );
    let missing = m.function("d", "d", vec![LayerRef::parse_remote("tools:9").unwrap()]);
    let err = plan(&m.client, &[missing]).await.unwrap_err();
    assert!(
        matches!(err, DeployError::LayerNotFound { ref name } if name == "tools:9"),
        "{err}"
    );
}

#[tokio::test]
async fn prune_keeps_the_newest_and_those_in_use() {
    let Some(m) = moto().await else { return };
    for body in ["tool v1", "tool v2!", "tool v3!!"] {
        deploy(
            &m,
            &[m.function("a", "a", vec![m.layer("tools", body)])],
            &fast(),
        )
        .await;
    }
    // b still uses version 1.
    let pinned = m.function("b", "b", vec![LayerRef::parse_remote("tools:1").unwrap()]);
    deploy(&m, &[pinned], &fast()).await;

    m.take_ops();
    let dry = lamina_deploy::prune_layers(&m.client, Some("tools"), 1, true)
        .await
        .unwrap();
    assert_eq!(dry.deleted, [layer_arn("tools", 2)]);
    assert!(!m.take_ops().iter().any(|op| op.starts_with("Delete")));
    insta::assert_snapshot!("prune_dry_run", dry.to_string());

    let done = lamina_deploy::prune_layers(&m.client, None, 1, false)
        .await
        .unwrap();
    assert_eq!(done.deleted, [layer_arn("tools", 2)]);
    assert_eq!(done.kept_newest, [layer_arn("tools", 3)]);
    assert_eq!(done.kept_in_use[&layer_arn("tools", 1)], ["b"]);
    let left: Vec<i64> = m
        .client
        .list_layer_versions()
        .layer_name("tools")
        .send()
        .await
        .unwrap()
        .layer_versions()
        .iter()
        .map(|v| v.version())
        .collect();
    let mut left = left;
    left.sort();
    assert_eq!(left, [1, 3]);

    // Once b moves off version 1, it goes too.
    deploy(&m, &[m.function("b", "b", vec![])], &fast()).await;
    let done = lamina_deploy::prune_layers(&m.client, Some("tools"), 1, false)
        .await
        .unwrap();
    assert_eq!(done.deleted, [layer_arn("tools", 1)]);
}

#[tokio::test]
async fn state_reports_a_layer_behind_its_latest_version() {
    let Some(m) = moto().await else { return };
    deploy(
        &m,
        &[m.function("a", "a", vec![m.layer("tools", "tool v1")])],
        &fast(),
    )
    .await;
    let pinned = m.function("b", "b", vec![LayerRef::parse_remote("tools:1").unwrap()]);
    deploy(&m, std::slice::from_ref(&pinned), &fast()).await;
    deploy(
        &m,
        &[m.function("a", "a", vec![m.layer("tools", "tool v2!")])],
        &fast(),
    )
    .await;
    let s = lamina_deploy::state(&m.client, &[pinned]).await.unwrap();
    assert_eq!(s.functions[0].layers_behind.len(), 1, "{s}");
    assert_eq!(
        s.functions[0].layers_behind[0].latest,
        layer_arn("tools", 2)
    );
    assert!(
        s.to_string().contains("layers: tools:1 is behind tools:2"),
        "{s}"
    );
}

/// `cargo xtask publish`'s case: layers alone. The AWS CLI version broke at a layer's
/// second version (its "latest" query printed the ARN and then `None`).
#[tokio::test]
async fn layers_alone_publish_once_per_change_past_the_second_version() {
    let Some(m) = moto().await else { return };
    let local = |body: &str| match m.layer("lamina-runtime-x86_64", body) {
        LayerRef::Local(l) => l,
        _ => unreachable!(),
    };
    let mut published = Vec::new();
    for body in ["v1", "v1", "v2!", "v2!", "v3!!", "v3!!"] {
        let p = lamina_deploy::plan_layers(&m.client, &[local(body)])
            .await
            .unwrap();
        let report = apply(&m.client, &p, &fast()).await.unwrap();
        published.extend(report.published_layers);
    }
    let name = "lamina-runtime-x86_64";
    assert_eq!(
        published,
        [layer_arn(name, 1), layer_arn(name, 2), layer_arn(name, 3)]
    );
    let p = lamina_deploy::plan_layers(&m.client, &[local("v3!!")])
        .await
        .unwrap();
    assert_eq!(
        p.to_string(),
        format!(
            "layer {name}: skip (latest version 3 has the same CodeSha256 {})\n",
            local("v3!!").code_sha256
        )
    );
}
