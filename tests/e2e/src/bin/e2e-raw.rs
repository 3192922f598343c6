//! A raw-bytes function with stateful init for the end-to-end tests: answers the event's bytes
//! reversed, prefixed by a greeting built once at init; an empty event is an error of the
//! handler's own type.

use lamina_runtime::{Config, Context, Error, Runtime, StartError};

fn main() -> Result<(), StartError> {
    let runtime = Runtime::from_env()?;
    let prefix = runtime.init(|config: &Config| {
        Ok(format!(
            "{}:",
            config.function_name.as_deref().unwrap_or("unnamed")
        ))
    })?;
    runtime.serve_raw(move |event: Vec<u8>, _context: &Context| {
        if event.is_empty() {
            return Err(Error::new("Raw.EmptyEvent", "the event is empty"));
        }
        let mut answer = prefix.clone().into_bytes();
        answer.extend(event.iter().rev());
        Ok(answer)
    })
}
