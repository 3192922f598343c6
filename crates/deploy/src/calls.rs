//! What `apply` sends for a [`Plan`], and when a wait is over: decided from the plan and
//! the function's reported state alone (pure, unit-tested), so that `apply.rs` only carries
//! the calls out.

use std::collections::BTreeMap;

use aws_sdk_lambda::types::{LastUpdateStatus, State};

use crate::diff::{Field, PlannedLayer};
use crate::input::LocalLayer;
use crate::plan::{FunctionAction, LayerAction, Plan};

/// One call `apply` makes for a function (or one wait), in the order Lambda needs them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Call {
    /// Upload the zip and `CreateFunction` (retried while a new role cannot be assumed yet).
    Create,
    /// Wait until no update is in progress: Lambda refuses an update during another.
    WaitIdle,
    /// Upload the zip and `UpdateFunctionCode`.
    UpdateCode,
    /// `UpdateFunctionConfiguration` with only these fields, so that a drifted key is the
    /// only one written.
    UpdateConfiguration(Vec<Field>),
    /// Wait until our change has settled (State=Active, LastUpdateStatus=Successful).
    WaitSettled,
    /// `TagResource` for `set` (when not empty), then `UntagResource` for `remove` (when
    /// not empty).
    UpdateTags {
        /// The function's ARN (tags are set on the ARN, not the name).
        arn: String,
        /// Tags to write.
        set: BTreeMap<String, String>,
        /// Tag keys to remove.
        remove: Vec<String>,
    },
    /// `PublishVersion`.
    PublishVersion,
    /// Point this alias at the version just published (`GetAlias`, then `UpdateAlias` or
    /// `CreateAlias`).
    MoveAlias(String),
}

impl Call {
    /// The step the report shows once this call is done, when it is one the report names
    /// by a fixed text (publishing and aliases name the version, known only afterwards).
    pub(crate) fn report(&self) -> Option<&'static str> {
        match self {
            Call::Create => Some("created"),
            Call::UpdateCode => Some("code updated"),
            Call::UpdateConfiguration(_) => Some("configuration updated"),
            Call::UpdateTags { .. } => Some("tags updated"),
            Call::WaitIdle | Call::WaitSettled | Call::PublishVersion | Call::MoveAlias(_) => None,
        }
    }
}

/// The local layers `apply` publishes, in the plan's order.
pub(crate) fn layers_to_publish(plan: &Plan) -> impl Iterator<Item = &LocalLayer> {
    plan.layers
        .iter()
        .filter(|l| matches!(l.action, LayerAction::Publish { .. }))
        .map(|l| &l.layer)
}

/// A function's layer ARNs once its local layers are published: `published` maps a layer
/// name to the version ARN publishing it returned.
pub(crate) fn layer_arns(
    layers: &[PlannedLayer],
    published: &BTreeMap<String, String>,
) -> Vec<String> {
    layers
        .iter()
        .map(|l| match l {
            PlannedLayer::Arn(arn) => arn.clone(),
            PlannedLayer::Published(name) => published.get(name).cloned().unwrap_or_default(),
        })
        .collect()
}

/// The calls for one function's `action`, in order: create and wait, or (waiting for idle
/// before the first update) code then configuration, each waited on, then tags; then,
/// with `publish`, a version (waited on) and the `alias` moved to it. An alias without
/// `publish` moves nothing: there is no new version to point it at.
pub(crate) fn function_calls(
    action: &FunctionAction,
    publish: bool,
    alias: Option<&str>,
) -> Vec<Call> {
    let mut calls = Vec::new();
    match action {
        FunctionAction::Create => calls.extend([Call::Create, Call::WaitSettled]),
        FunctionAction::Update {
            arn,
            code,
            config,
            tags,
            ..
        } => {
            if code.is_some() || !config.is_empty() {
                calls.push(Call::WaitIdle);
            }
            if code.is_some() {
                calls.extend([Call::UpdateCode, Call::WaitSettled]);
            }
            if !config.is_empty() {
                let fields = config.iter().map(|c| c.field).collect();
                calls.extend([Call::UpdateConfiguration(fields), Call::WaitSettled]);
            }
            if !tags.is_empty() {
                calls.push(Call::UpdateTags {
                    arn: arn.clone(),
                    set: tags.set.clone(),
                    remove: tags.remove.clone(),
                });
            }
        }
    }
    if publish {
        calls.extend([Call::PublishVersion, Call::WaitSettled]);
        if let Some(alias) = alias {
            calls.push(Call::MoveAlias(alias.to_string()));
        }
    }
    calls
}

/// Where a wait stands after one `GetFunctionConfiguration`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Settle {
    /// The wait is over.
    Done,
    /// `State=Failed`: the function cannot run; the wait ends with an error.
    StateFailed,
    /// `LastUpdateStatus=Failed`: the last update did not take; the wait ends with an error.
    UpdateFailed,
    /// Ask again (unless the wait has run out of time).
    Wait,
}

/// Whether a wait is over, given the function's `State` and `LastUpdateStatus`.
/// Waiting for idle (`after_change` false) ends as soon as no update is in progress, even
/// on a `Failed` or `Inactive` function (an update may be what fixes or wakes it); waiting
/// after a change of ours ends on Active and Successful (a just-created function may not
/// report them yet: absent counts as settled) and fails on `Failed`.
pub(crate) fn settle(
    state: Option<&State>,
    status: Option<&LastUpdateStatus>,
    after_change: bool,
) -> Settle {
    let busy = state == Some(&State::Pending) || status == Some(&LastUpdateStatus::InProgress);
    if !after_change && !busy {
        return Settle::Done;
    }
    if state == Some(&State::Failed) {
        return Settle::StateFailed;
    }
    if status == Some(&LastUpdateStatus::Failed) {
        return Settle::UpdateFailed;
    }
    let active = matches!(state, None | Some(State::Active));
    let settled = matches!(status, None | Some(LastUpdateStatus::Successful));
    if active && settled {
        Settle::Done
    } else {
        Settle::Wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{Change, TagChanges};
    use crate::plan::LayerPlan;

    fn change(key: &str, field: Field) -> Change {
        Change {
            key: key.into(),
            deployed: Some("1".into()),
            local: Some("2".into()),
            field,
        }
    }

    fn update(code: bool, config: Vec<Change>, tags: TagChanges) -> FunctionAction {
        FunctionAction::Update {
            arn: "arn:aws:lambda:us-east-1:123456789012:function:hello".into(),
            code: code.then(|| "CodeSha256 differs".into()),
            deployed_code_sha256: "abc=".into(),
            config,
            tags,
        }
    }

    fn layer(name: &str, action: LayerAction) -> LayerPlan {
        LayerPlan {
            layer: LocalLayer {
                name: name.into(),
                zip_path: format!("{name}.zip").into(),
                code_sha256: "abc=".into(),
                compatible_runtimes: Vec::new(),
                compatible_architectures: Vec::new(),
                description: String::new(),
            },
            action,
        }
    }

    #[test]
    fn a_new_function_is_created_and_waited_on() {
        assert_eq!(
            function_calls(&FunctionAction::Create, false, Some("live")),
            [Call::Create, Call::WaitSettled]
        );
    }

    #[test]
    fn an_unchanged_function_gets_no_call_and_no_wait() {
        let calls = function_calls(
            &update(false, Vec::new(), TagChanges::default()),
            false,
            None,
        );
        assert_eq!(calls, []);
    }

    #[test]
    fn code_then_configuration_each_waited_on_after_one_wait_for_idle() {
        let config = vec![
            change("memory_mb", Field::Memory),
            change("timeout_s", Field::Timeout),
        ];
        assert_eq!(
            function_calls(&update(true, config, TagChanges::default()), false, None),
            [
                Call::WaitIdle,
                Call::UpdateCode,
                Call::WaitSettled,
                Call::UpdateConfiguration(vec![Field::Memory, Field::Timeout]),
                Call::WaitSettled,
            ]
        );
    }

    #[test]
    fn tags_alone_need_no_wait() {
        let tags = TagChanges {
            set: BTreeMap::from([("team".into(), "a".into())]),
            remove: vec!["old".into()],
        };
        assert_eq!(
            function_calls(&update(false, Vec::new(), tags), false, None),
            [Call::UpdateTags {
                arn: "arn:aws:lambda:us-east-1:123456789012:function:hello".into(),
                set: BTreeMap::from([("team".into(), "a".into())]),
                remove: vec!["old".into()],
            }]
        );
    }

    #[test]
    fn publishing_comes_last_and_the_alias_only_with_it() {
        let unchanged = update(false, Vec::new(), TagChanges::default());
        assert_eq!(
            function_calls(&unchanged, true, Some("live")),
            [
                Call::PublishVersion,
                Call::WaitSettled,
                Call::MoveAlias("live".into())
            ]
        );
        assert_eq!(
            function_calls(&unchanged, true, None),
            [Call::PublishVersion, Call::WaitSettled]
        );
        assert_eq!(function_calls(&unchanged, false, Some("live")), []);
    }

    #[test]
    fn only_calls_that_change_something_are_reported() {
        let reported: Vec<_> = [
            Call::Create,
            Call::WaitIdle,
            Call::UpdateCode,
            Call::UpdateConfiguration(Vec::new()),
            Call::WaitSettled,
            Call::UpdateTags {
                arn: String::new(),
                set: BTreeMap::new(),
                remove: Vec::new(),
            },
            Call::PublishVersion,
            Call::MoveAlias("live".into()),
        ]
        .iter()
        .filter_map(Call::report)
        .collect();
        assert_eq!(
            reported,
            [
                "created",
                "code updated",
                "configuration updated",
                "tags updated"
            ]
        );
    }

    #[test]
    fn only_layers_to_publish_are_published_and_functions_get_their_new_arns() {
        let plan = Plan {
            layers: vec![
                layer("deps", LayerAction::Publish { latest: None }),
                layer(
                    "same",
                    LayerAction::Skip {
                        arn: "arn:aws:lambda:us-east-1:1:layer:same:3".into(),
                    },
                ),
                layer(
                    "changed",
                    LayerAction::Publish {
                        latest: Some((1, "old=".into())),
                    },
                ),
            ],
            functions: Vec::new(),
        };
        let names: Vec<&str> = layers_to_publish(&plan).map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["deps", "changed"]);

        let published = BTreeMap::from([(
            "deps".to_string(),
            "arn:aws:lambda:us-east-1:1:layer:deps:1".to_string(),
        )]);
        let planned = [
            PlannedLayer::Published("deps".into()),
            PlannedLayer::Arn("arn:aws:lambda:us-east-1:1:layer:same:3".into()),
        ];
        assert_eq!(
            layer_arns(&planned, &published),
            [
                "arn:aws:lambda:us-east-1:1:layer:deps:1",
                "arn:aws:lambda:us-east-1:1:layer:same:3"
            ]
        );
    }

    #[test]
    fn waiting_for_idle_ends_unless_an_update_is_in_progress() {
        use LastUpdateStatus as U;
        use State as S;
        for (state, status) in [
            (Some(S::Active), Some(U::Successful)),
            (Some(S::Failed), Some(U::Failed)),
            (Some(S::Inactive), None),
            (None, None),
        ] {
            assert_eq!(
                settle(state.as_ref(), status.as_ref(), false),
                Settle::Done,
                "{state:?} {status:?}"
            );
        }
        assert_eq!(settle(Some(&S::Pending), None, false), Settle::Wait);
        assert_eq!(
            settle(Some(&S::Active), Some(&U::InProgress), false),
            Settle::Wait
        );
    }

    #[test]
    fn waiting_after_a_change_ends_on_active_and_successful_and_fails_on_failed() {
        use LastUpdateStatus as U;
        use State as S;
        assert_eq!(
            settle(Some(&S::Active), Some(&U::Successful), true),
            Settle::Done
        );
        // A just-created function may report neither yet.
        assert_eq!(settle(None, None, true), Settle::Done);
        assert_eq!(settle(Some(&S::Pending), None, true), Settle::Wait);
        assert_eq!(
            settle(Some(&S::Active), Some(&U::InProgress), true),
            Settle::Wait
        );
        assert_eq!(settle(Some(&S::Inactive), None, true), Settle::Wait);
        assert_eq!(
            settle(Some(&S::Failed), Some(&U::Successful), true),
            Settle::StateFailed
        );
        assert_eq!(
            settle(Some(&S::Active), Some(&U::Failed), true),
            Settle::UpdateFailed
        );
        // Failed while an update is still in progress is a failure too, not a wait.
        assert_eq!(
            settle(Some(&S::Failed), Some(&U::InProgress), false),
            Settle::StateFailed
        );
    }
}
