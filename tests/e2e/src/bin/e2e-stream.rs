//! A streaming function for the end-to-end tests: writes `chunks` chunks `gap_ms` apart, and
//! with `fail` set fails after the second one (the error goes in the trailers); with
//! `fail_message_bytes` too, that error's message is that many `x`s.

use std::io::Write as _;

use std::time::Duration;

use lamina_runtime::{Context, Error, ResponseStream, Runtime, StartError};
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    chunks: usize,
    gap_ms: u64,
    #[serde(default)]
    fail: bool,
    #[serde(default)]
    fail_message_bytes: Option<usize>,
}

fn main() -> Result<(), StartError> {
    Runtime::from_env()?.serve_streaming(
        |event: Request, _: &Context, out: &mut ResponseStream| -> Result<(), Error> {
            out.set_content_type("text/plain")?;
            for n in 0..event.chunks {
                if n > 0 {
                    std::thread::sleep(Duration::from_millis(event.gap_ms));
                }
                if event.fail && n == 2 {
                    let message = match event.fail_message_bytes {
                        Some(bytes) => "x".repeat(bytes),
                        None => "the source went away after 2 chunks".to_owned(),
                    };
                    return Err(Error::new("Stream.Broke", message));
                }
                // One write, one chunk (`write!` would make three).
                out.write_all(format!("chunk {n};").as_bytes())?;
            }
            Ok(())
        },
    )
}
