//! The current-thread tokio runtime the async forms run on.

use crate::Error;

/// The current-thread tokio runtime every async form runs on, with every driver the program's
/// tokio features enable (`time`, `net`, ...); built once, at init.
pub(crate) fn current_thread_runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| Error::msg(format!("cannot start the tokio runtime: {error}")))
}
