//! Lambda's size and count limits, checked at build time.

use lamina_context::facts;
use lamina_unzip::check_unzipped_total;

use crate::error::{Error, Result};
use crate::manifest::Manifest;

/// Limits a build is checked against. [`Limits::default`] holds Lambda's;
/// tests inject small ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest zip uploaded directly (larger ones go through S3).
    pub max_zip_bytes: u64,
    /// Largest unzipped size of a function plus all its layers.
    pub max_unzipped_bytes: u64,
    /// Most layers one function can use.
    pub max_layers_per_function: usize,
}

impl Limits {
    /// Lambda's limits ([`lamina_context::facts`]): a 50 MB zip for a direct upload,
    /// 262,144,000 bytes unzipped, 5 layers.
    pub const LAMBDA: Limits = Limits {
        max_zip_bytes: facts::MAX_DIRECT_UPLOAD_BYTES,
        max_unzipped_bytes: facts::MAX_UNZIPPED_BYTES,
        max_layers_per_function: facts::MAX_LAYERS,
    };

    /// No limits at all (benchmarks of big trees).
    pub const NONE: Limits = Limits {
        max_zip_bytes: u64::MAX,
        max_unzipped_bytes: u64::MAX,
        max_layers_per_function: usize::MAX,
    };

    /// Checks a function together with the layers it uses: the layer count,
    /// and the unzipped size of all of them together.
    pub fn check_function_with_layers(
        &self,
        function: &Manifest,
        layers: &[Manifest],
    ) -> Result<()> {
        if layers.len() > self.max_layers_per_function {
            return Err(Error::TooManyLayers {
                function: function.artifact.clone(),
                count: layers.len(),
                limit: self.max_layers_per_function,
            });
        }
        // Manifests are read from disk: their sizes add up in the one check, saturating.
        let sizes =
            std::iter::once(function.unzipped_size).chain(layers.iter().map(|l| l.unzipped_size));
        check_unzipped_total(sizes, self.max_unzipped_bytes).map_err(|over| {
            Error::FunctionWithLayersTooLarge {
                function: function.artifact.clone(),
                layers: layers.len(),
                size: over.size,
                limit: over.limit,
            }
        })?;
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::LAMBDA
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Architecture, ArtifactKind};

    fn manifest(artifact: &str, unzipped_size: u64) -> Manifest {
        Manifest {
            format: 1,
            artifact: artifact.into(),
            kind: ArtifactKind::Layer,
            architecture: Architecture::X86_64,
            compatible_runtimes: Vec::new(),
            source_date_epoch: 0,
            compression: String::new(),
            inputs_digest: String::new(),
            zip_sha256: String::new(),
            code_sha256: String::new(),
            zip_size: 0,
            unzipped_size,
            files: Vec::new(),
        }
    }

    /// Manifests come from disk: sizes that add up past `u64::MAX` are over the limit, not
    /// a panic (debug) or a wrapped small total that passes (release).
    #[test]
    fn sizes_from_manifests_never_overflow() {
        let function = manifest("fn", u64::MAX);
        let layers = [manifest("a", u64::MAX), manifest("b", 2)];
        let error = Limits::LAMBDA
            .check_function_with_layers(&function, &layers)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "fn: function and its 2 layers unzip to {} bytes, over Lambda's limit of {} bytes",
                u64::MAX,
                facts::MAX_UNZIPPED_BYTES
            )
        );
    }
}
