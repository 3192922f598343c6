//! Lambda's size and count limits, checked at build time.

use lamina_context::facts;

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
        let size = function.unzipped_size + layers.iter().map(|l| l.unzipped_size).sum::<u64>();
        if size > self.max_unzipped_bytes {
            return Err(Error::FunctionWithLayersTooLarge {
                function: function.artifact.clone(),
                layers: layers.len(),
                size,
                limit: self.max_unzipped_bytes,
            });
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::LAMBDA
    }
}
