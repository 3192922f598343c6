//! How a zip reaches Lambda: in the request (up to 50 MB), or through an S3 bucket
//! (feature `s3`).

use std::path::Path;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, LayerVersionContentInput};

use crate::DeployError;

/// The largest zip sent inside the request; larger goes through S3. Lambda's
/// [`MAX_DIRECT_UPLOAD_BYTES`](lamina_context::facts::MAX_DIRECT_UPLOAD_BYTES), 50 MiB.
pub const DIRECT_UPLOAD_LIMIT: u64 = lamina_context::facts::MAX_DIRECT_UPLOAD_BYTES;

/// Where uploads go when they go through S3 (`--s3-bucket`).
#[cfg(feature = "s3")]
#[derive(Clone, Debug)]
pub struct S3Upload {
    /// A client for the bucket's region ([`s3_client`]).
    pub client: aws_sdk_s3::Client,
    /// The bucket, in the functions' region (Lambda reads code from its own region only).
    pub bucket: String,
    /// Prepended to each key, e.g. `lamina/`.
    pub prefix: String,
}

/// An S3 client for `config`; path-style addressing when an endpoint URL is set, since a
/// local AWS API server has no per-bucket host names.
#[cfg(feature = "s3")]
pub fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(config.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Without the `s3` feature there is no bucket to upload through: an uninhabited stand-in
/// keeps [`code`]'s one signature.
#[cfg(not(feature = "s3"))]
#[derive(Clone, Debug)]
pub(crate) enum S3Upload {}

/// A zip as the Lambda API takes it.
#[derive(Clone, Debug)]
pub(crate) enum Code {
    Zip(Vec<u8>),
    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    S3 {
        bucket: String,
        key: String,
    },
}

impl Code {
    pub(crate) fn function_code(self) -> FunctionCode {
        match self {
            Code::Zip(bytes) => FunctionCode::builder().zip_file(Blob::new(bytes)).build(),
            Code::S3 { bucket, key } => FunctionCode::builder()
                .s3_bucket(bucket)
                .s3_key(key)
                .build(),
        }
    }

    pub(crate) fn layer_content(self) -> LayerVersionContentInput {
        match self {
            Code::Zip(bytes) => LayerVersionContentInput::builder()
                .zip_file(Blob::new(bytes))
                .build(),
            Code::S3 { bucket, key } => LayerVersionContentInput::builder()
                .s3_bucket(bucket)
                .s3_key(key)
                .build(),
        }
    }

    pub(crate) fn update(
        self,
        req: aws_sdk_lambda::operation::update_function_code::builders::UpdateFunctionCodeFluentBuilder,
    ) -> aws_sdk_lambda::operation::update_function_code::builders::UpdateFunctionCodeFluentBuilder
    {
        match self {
            Code::Zip(bytes) => req.zip_file(Blob::new(bytes)),
            Code::S3 { bucket, key } => req.s3_bucket(bucket).s3_key(key),
        }
    }
}

/// Reads the zip at `path` (`code_sha256` is its hash) and, given an S3 bucket (`s3`),
/// uploads it as `PREFIX<name>/<sha256, URL-safe>.zip`.
pub(crate) async fn code(
    path: &Path,
    name: &str,
    code_sha256: &str,
    s3: Option<&S3Upload>,
) -> Result<Code, DeployError> {
    let io = |source| DeployError::Io {
        path: path.to_path_buf(),
        source,
    };
    #[cfg(feature = "s3")]
    if let Some(s3) = s3 {
        let key = format!(
            "{}{name}/{}.zip",
            s3.prefix,
            code_sha256
                .replace('/', "_")
                .replace('+', "-")
                .trim_end_matches('=')
        );
        let body = aws_sdk_s3::primitives::ByteStream::from_path(path)
            .await
            .map_err(|e| io(std::io::Error::other(e)))?;
        s3.client
            .put_object()
            .bucket(&s3.bucket)
            .key(&key)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                crate::error::aws_error("s3:PutObject", &format!("s3://{}/{key}", s3.bucket), e)
            })?;
        return Ok(Code::S3 {
            bucket: s3.bucket.clone(),
            key,
        });
    }
    let _ = (name, code_sha256, s3);
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > DIRECT_UPLOAD_LIMIT {
        return Err(DeployError::ZipTooLarge {
            path: path.to_path_buf(),
            size,
            limit: DIRECT_UPLOAD_LIMIT,
        });
    }
    std::fs::read(path).map(Code::Zip).map_err(io)
}
