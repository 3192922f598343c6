//! `cargo lamina deploy`, `state`, `prune-layers` and `invoke --remote`: the project on AWS,
//! through `lamina-deploy` (the AWS SDK for Rust; no Python, no AWS CLI).

use std::io::IsTerminal as _;
use std::time::Duration;

use anyhow::{Context as _, bail};
use lamina_cli::deploy::{deploy_architecture, plan_input};
use lamina_cli::package::options_from_env;
use lamina_cli::project::{Project, Selection};
use lamina_deploy::{ApplyOptions, ClientOptions};

use crate::cli::{AwsArgs, DeployArgs, PruneArgs, StateArgs};
use lamina_cli::compile::Compiler;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the AWS client's runtime")
}

fn client_options(aws: &AwsArgs) -> ClientOptions {
    ClientOptions {
        region: aws.region.clone(),
        endpoint_url: aws.endpoint_url.clone(),
        profile: aws.profile.clone(),
    }
}

/// The named functions (all when none) as lamina-deploy inputs, each for its deploy
/// architecture; built first when `build`.
fn plan_inputs(
    selection: &Selection,
    names: &[String],
    arch: Option<lamina_layer_builder::Architecture>,
    build: bool,
) -> anyhow::Result<Vec<lamina_deploy::FunctionPlanInput>> {
    let project = Project::discover(selection)?;
    let compiler = Compiler::for_project(&project);
    let options = options_from_env()?;
    project
        .selected(names)?
        .into_iter()
        .map(|function| {
            let arch = deploy_architecture(function, arch)?;
            plan_input(&project, function, &compiler, &options, arch, build)
        })
        .collect()
}

pub fn deploy(selection: &Selection, args: DeployArgs) -> anyhow::Result<()> {
    if args.alias.is_some() && !args.publish {
        bail!("--alias moves an alias to a published version: add --publish");
    }
    let mut inputs = plan_inputs(selection, &args.names, args.arch, true)?;
    let runtime = runtime()?;
    runtime.block_on(async {
        let config = lamina_deploy::config_loader(&client_options(&args.aws))
            .load()
            .await;
        let client = lamina_deploy::lambda_client(&config)?;
        let mut grace = Duration::ZERO;
        if args.create_role {
            let iam = lamina_deploy::aws_sdk_iam::Client::new(&config);
            for input in inputs.iter_mut().filter(|i| i.role.is_none()) {
                let name = lamina_deploy::basic_role_name(&input.name);
                if args.dry_run {
                    println!(
                        "would create the role {name} (AWSLambdaBasicExecutionRole) for {}",
                        input.name
                    );
                    // Only for the plan: the role's real ARN is known once it exists.
                    input.role = Some(format!("arn:aws:iam::000000000000:role/{name}"));
                    continue;
                }
                let role = lamina_deploy::create_basic_role(&iam, &name).await?;
                println!("{role}");
                // A new role takes seconds before Lambda can assume it.
                if role.created {
                    grace = Duration::from_secs(30);
                }
                input.role = Some(role.arn);
            }
        }
        let plan = lamina_deploy::plan(&client, &inputs).await?;
        print!("{plan}");
        if args.dry_run {
            println!("(--dry-run: nothing changed)");
            return Ok(());
        }
        let s3 = args
            .s3_bucket
            .as_ref()
            .map(|bucket| lamina_deploy::S3Upload {
                client: lamina_deploy::s3_client(&config),
                bucket: bucket.clone(),
                prefix: "lamina/".into(),
            });
        let apply = ApplyOptions {
            publish: args.publish,
            alias: args.alias.clone(),
            new_role_grace: grace,
            s3,
            ..ApplyOptions::default()
        };
        let report = lamina_deploy::apply(&client, &plan, &apply).await?;
        print!("{report}");
        Ok::<_, anyhow::Error>(())
    })
}

pub fn state(selection: &Selection, args: StateArgs) -> anyhow::Result<()> {
    // What is built, as it is: `state` never builds.
    let inputs = plan_inputs(selection, &args.names, args.arch, false)?;
    let runtime = runtime()?;
    let report = runtime.block_on(async {
        let client = lamina_deploy::connect(&client_options(&args.aws)).await?;
        lamina_deploy::state(&client, &inputs).await
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render(std::io::stdout().is_terminal()));
    }
    Ok(())
}

pub fn prune(args: PruneArgs) -> anyhow::Result<()> {
    if args.keep == 0 {
        bail!("--keep 0 would delete every version; keep at least 1");
    }
    let runtime = runtime()?;
    let report = runtime.block_on(async {
        let client = lamina_deploy::connect(&client_options(&args.aws)).await?;
        lamina_deploy::prune_layers(&client, args.name.as_deref(), args.keep, args.dry_run).await
    })?;
    print!("{report}");
    Ok(())
}

/// `invoke --remote NAME`: the deployed function, its log tail decoded to stderr; with
/// `stream`, its response stream printed as it arrives.
pub fn invoke(
    aws: &AwsArgs,
    name: &str,
    tenant: Option<&str>,
    payload: Vec<u8>,
    stream: bool,
) -> anyhow::Result<()> {
    let runtime = runtime()?;
    if stream {
        let outcome = runtime.block_on(async {
            let client = lamina_deploy::connect(&client_options(aws)).await?;
            lamina_deploy::invoke_remote_stream(
                &client,
                name,
                tenant,
                payload,
                &mut lamina_cli::invoke::print_chunk,
            )
            .await
        })?;
        println!();
        if let Some(tail) = &outcome.log_tail {
            eprint!("{tail}");
        }
        if let Some(code) = outcome.error_code {
            let details = outcome.error_details.unwrap_or_default();
            bail!("the function failed ({code}): {details}");
        }
        return Ok(());
    }
    let outcome = runtime.block_on(async {
        let client = lamina_deploy::connect(&client_options(aws)).await?;
        lamina_deploy::invoke_remote(&client, name, tenant, payload).await
    })?;
    if let Some(tail) = &outcome.log_tail {
        eprint!("{tail}");
    }
    println!("{}", String::from_utf8_lossy(&outcome.payload));
    if let Some(kind) = outcome.function_error {
        bail!("the function failed ({kind}); its error is on stdout");
    }
    Ok(())
}
