//! A function for the end-to-end concurrency test: `Runtime::concurrent`, answering with its process
//! id, its request id, the event's number and how many invocations ran at once at its peak;
//! `{"n": 500}` panics.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lamina_runtime::{Context, Error, Runtime, StartError};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {
    n: u64,
}

#[derive(Serialize)]
struct Response {
    pid: u32,
    request_id: String,
    n: u64,
    peak: usize,
}

static RUNNING: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn main() -> Result<(), StartError> {
    Runtime::from_env()?
        .concurrent()
        .serve(|event: Request, context: &Context| {
            let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
            PEAK.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(2));
            RUNNING.fetch_sub(1, Ordering::SeqCst);
            if event.n == 500 {
                panic!("slot panic at n = 500");
            }
            Ok::<_, Error>(Response {
                pid: std::process::id(),
                request_id: context.request_id.clone(),
                n: event.n,
                peak: PEAK.load(Ordering::SeqCst),
            })
        })
}
