//! What the Invoke API's handlers and the front door share: the functions, by name, and the
//! settings every request reads.

use std::sync::Arc;

use crate::access::Access;
use crate::asynchronous::AsyncQueue;
use crate::front_door::event::HttpEventKind;
use crate::function::Function;

/// What the Invoke API handlers share.
pub(crate) struct Shared {
    pub(crate) functions: Vec<Arc<Function>>,
    pub(crate) strict_names: bool,
    /// The event a request at the front door becomes.
    pub(crate) http_event: HttpEventKind,
    /// Where `Event` invocations wait, run and are retried.
    pub(crate) asynchronous: Arc<AsyncQueue>,
    /// Which `Host`s and `Origin`s are answered.
    pub(crate) access: Access,
}

impl Shared {
    /// The function a name in the Invoke API path means: with one function (unless
    /// `strict_names`), any name; otherwise the name, a `name:qualifier`, or an ARN ending in
    /// `:function:name[:qualifier]`.
    pub(crate) fn resolve(&self, requested: &str) -> Option<Arc<Function>> {
        if let [only] = self.functions.as_slice()
            && !self.strict_names
        {
            return Some(Arc::clone(only));
        }
        let name = match requested.split_once(":function:") {
            Some((_, rest)) => rest,
            None => requested,
        };
        let name = name.split(':').next().unwrap_or(name);
        self.functions
            .iter()
            .find(|f| f.config.name == name)
            .cloned()
    }
}
