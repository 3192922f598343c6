//! Lambda's size and count limits, checked at build time.

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
    /// Lambda's limits: 50 MB zip, 262,144,000 bytes unzipped, 5 layers.
    pub const LAMBDA: Limits = Limits {
        max_zip_bytes: 52_428_800,
        max_unzipped_bytes: 262_144_000,
        max_layers_per_function: 5,
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
