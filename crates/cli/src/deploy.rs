//! From a project's functions to what `lamina-deploy` deploys: each function's zip built
//! (nothing rewritten when unchanged), its layers built and named, every value of its
//! `lamina.toml` made concrete, so "not set" never silently keeps what is deployed.

use std::path::Path;

use anyhow::{Context as _, bail};
use lamina_deploy::{Arch, FunctionPlanInput, LayerRef, LocalLayer, Vpc, code_sha256};
use lamina_layer_builder::{Architecture, BuildOptions, Mode};

use crate::compile::Compiler;
use crate::layer::{self, LayerBuilder};
use crate::package::package_function;
use crate::project::{Function, Project};

/// The architecture a function is deployed as: asked for, else its spec's first (Lambda
/// runs one architecture per function).
pub fn deploy_architecture(
    function: &Function,
    asked: Option<Architecture>,
) -> anyhow::Result<Architecture> {
    match asked {
        Some(arch) if function.spec.architectures.contains(&arch) => Ok(arch),
        Some(arch) => bail!(
            "function `{}` is not built for {arch}: {} lists [{}]",
            function.name,
            function.spec.path.display(),
            function
                .spec
                .architectures
                .iter()
                .map(|a| a.name())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        None => function
            .spec
            .architectures
            .first()
            .copied()
            .with_context(|| format!("function `{}` lists no architecture", function.name)),
    }
}

fn arch_of(arch: Architecture) -> Arch {
    match arch {
        Architecture::X86_64 => Arch::X86_64,
        Architecture::Arm64 => Arch::Arm64,
    }
}

/// The deployed name of a layer built here: `NAME-ARCH` (one architecture per version keeps
/// the arm64 and x86_64 builds apart), as lamina's releases name theirs.
pub fn deployed_layer_name(name: &str, arch: Architecture) -> String {
    format!("{name}-{}", arch.name())
}

/// Builds `function` (when `build` is true; otherwise takes what is on disk) and its layers
/// for `arch`, and says how it should be deployed.
pub fn plan_input(
    project: &Project,
    function: &Function,
    compiler: &Compiler,
    options: &BuildOptions,
    arch: Architecture,
    build: bool,
) -> anyhow::Result<FunctionPlanInput> {
    let zip_path = crate::pipeline::function_zip_path(&project.target_dir, &function.name, arch);
    if build {
        package_function(project, function, compiler, &[arch], options, Mode::Write)?;
    }
    let code = if zip_path.is_file() {
        Some(code_sha256(&zip_path)?)
    } else {
        None
    };
    let builder = LayerBuilder {
        project,
        compiler,
        options,
        mode: Mode::Write,
    };
    let mut layers = Vec::new();
    for value in &function.spec.layers {
        layers.push(layer_ref(
            value,
            &function.dir,
            project,
            &builder,
            arch,
            build,
        )?);
    }
    let spec = &function.spec;
    Ok(FunctionPlanInput {
        name: function.name.clone(),
        zip_path,
        code_sha256: code,
        handler: spec.handler.clone().unwrap_or_else(|| "bootstrap".into()),
        runtime: spec.runtime.clone(),
        architectures: vec![arch_of(arch)],
        memory_mb: i32::try_from(spec.memory_mb).context("memory")?,
        // Lambda's timeout is whole seconds; the spec allows fractions for local runs.
        timeout_s: spec.timeout_s.ceil() as i32,
        ephemeral_storage_mb: i32::try_from(spec.ephemeral_storage_mb)
            .context("ephemeral storage")?,
        environment: spec.environment.clone(),
        layers,
        role: spec.role.clone(),
        vpc: spec.vpc.as_ref().map(|vpc| Vpc {
            subnet_ids: vpc.subnet_ids.clone(),
            security_group_ids: vpc.security_group_ids.clone(),
        }),
        description: spec.description.clone().unwrap_or_default(),
        tags: spec.tags.clone(),
        per_tenant: spec.per_tenant,
    })
}

fn layer_ref(
    value: &str,
    base: &Path,
    project: &Project,
    builder: &LayerBuilder<'_>,
    arch: Architecture,
    build: bool,
) -> anyhow::Result<LayerRef> {
    let parsed = layer::LayerRef::parse(value, base, project)?;
    let (name, zip, description) = match parsed {
        layer::LayerRef::Remote(text) => {
            return LayerRef::parse_remote(&text).map_err(anyhow::Error::from);
        }
        layer::LayerRef::Zip(zip) => {
            let stem = zip
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("layer")
                .to_owned();
            (stem, zip, value.to_string())
        }
        spec @ (layer::LayerRef::Spec { .. } | layer::LayerRef::Runtime) => {
            let name = match &spec {
                layer::LayerRef::Spec { name, .. } => name.clone(),
                _ => layer::RUNTIME_LAYER.to_owned(),
            };
            let zip = crate::pipeline::layer_zip_path(&project.target_dir, &name, arch);
            if build || !zip.is_file() {
                builder
                    .build(&spec, &[arch])
                    .with_context(|| format!("building the layer `{value}`"))?;
            }
            let description = if name == layer::RUNTIME_LAYER {
                format!("lamina runtime layer {}", env!("CARGO_PKG_VERSION"))
            } else {
                format!("layer {name}, built by cargo lamina")
            };
            (deployed_layer_name(&name, arch), zip, description)
        }
    };
    Ok(LayerRef::Local(LocalLayer {
        name,
        code_sha256: code_sha256(&zip)?,
        zip_path: zip,
        compatible_runtimes: vec![lamina_layer_builder::DEFAULT_RUNTIME.to_owned()],
        compatible_architectures: vec![arch_of(arch)],
        description,
    }))
}
