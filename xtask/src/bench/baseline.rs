//! The physical limit the emulator is measured against: the same two loopback HTTP hops
//! (caller → server, function ↔ server) with the same clients (`ureq`, as the bench's
//! callers and lamina-runtime use) and the same server stack (hyper's HTTP/1 on a
//! two-worker tokio runtime, as the emulator), and nothing else: no logs, no ids beyond a
//! counter, no timeouts, no processes. Whatever the emulator adds shows as the ratio.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::{Notify, oneshot};

/// Events waiting for a `/next`, and callers waiting for their answer, by id.
#[derive(Default)]
struct Queue {
    waiting: Mutex<VecDeque<(u64, Bytes)>>,
    answers: Mutex<HashMap<u64, oneshot::Sender<Bytes>>>,
    next_id: Mutex<u64>,
    arrived: Notify,
}

/// A running baseline: its invoke URL and the function threads serving it.
pub struct Baseline {
    pub invoke_url: String,
    runtime: tokio::runtime::Runtime,
}

impl Baseline {
    /// Starts the server and `functions` function threads, each looping `GET /next`,
    /// `POST /response` with the event as the answer.
    pub fn start(functions: usize) -> anyhow::Result<Baseline> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_io()
            .build()
            .context("starting the baseline's tokio runtime")?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .context("binding the baseline server to loopback")?;
        let address = listener.local_addr()?;
        let queue = Arc::new(Queue::default());
        runtime.spawn(serve(listener, queue));
        for _ in 0..functions {
            std::thread::spawn(move || function_loop(address));
        }
        Ok(Baseline {
            invoke_url: format!("http://{address}/invoke"),
            runtime,
        })
    }

    /// Stops the server; the function threads end at their next request.
    pub fn stop(self) {
        self.runtime.shutdown_background();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn serve(listener: tokio::net::TcpListener, queue: Arc<Queue>) {
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        let queue = queue.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let queue = queue.clone();
                async move { Ok::<_, Infallible>(route(request, &queue).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn route(request: Request<Incoming>, queue: &Queue) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return answer(StatusCode::BAD_REQUEST, Bytes::new(), None),
    };
    match (method, path.as_str()) {
        (Method::POST, "/invoke") => {
            let (sender, receiver) = oneshot::channel();
            let id = {
                let mut next = lock(&queue.next_id);
                *next += 1;
                *next
            };
            lock(&queue.answers).insert(id, sender);
            lock(&queue.waiting).push_back((id, body));
            queue.arrived.notify_one();
            match receiver.await {
                Ok(result) => answer(StatusCode::OK, result, None),
                Err(_) => answer(StatusCode::INTERNAL_SERVER_ERROR, Bytes::new(), None),
            }
        }
        (Method::GET, "/next") => loop {
            let notified = queue.arrived.notified();
            if let Some((id, event)) = lock(&queue.waiting).pop_front() {
                return answer(StatusCode::OK, event, Some(id));
            }
            notified.await;
        },
        (Method::POST, response) => {
            let id = response
                .strip_prefix("/response/")
                .and_then(|id| id.parse::<u64>().ok());
            match id.and_then(|id| lock(&queue.answers).remove(&id)) {
                Some(sender) => {
                    let _ = sender.send(body);
                    answer(StatusCode::ACCEPTED, Bytes::new(), None)
                }
                None => answer(StatusCode::BAD_REQUEST, Bytes::new(), None),
            }
        }
        _ => answer(StatusCode::NOT_FOUND, Bytes::new(), None),
    }
}

fn answer(status: StatusCode, body: Bytes, id: Option<u64>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    if let Some(id) = id
        && let Ok(value) = id.to_string().parse()
    {
        response.headers_mut().insert("request-id", value);
    }
    response
}

/// A function that answers each event with the event itself, until the server goes away.
fn function_loop(address: SocketAddr) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(None)
        .build()
        .into();
    loop {
        let Ok(mut next) = agent.get(format!("http://{address}/next")).call() else {
            return;
        };
        let id = next
            .headers()
            .get("request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("0")
            .to_string();
        let Ok(event) = next.body_mut().read_to_vec() else {
            return;
        };
        if agent
            .post(format!("http://{address}/response/{id}"))
            .send(&event[..])
            .is_err()
        {
            return;
        }
    }
}

/// Invocations per second through the baseline: `callers` callers and as many function
/// threads, warmed first like the emulator runs.
pub fn per_second(payload: &[u8], callers: usize, invocations: usize) -> anyhow::Result<f64> {
    let baseline = Baseline::start(callers)?;
    let url = baseline.invoke_url.clone();
    super::measure::load(&url, payload, callers, 20 * callers).context("warming the baseline")?;
    let (elapsed, _) = super::measure::load(&url, payload, callers, invocations)?;
    baseline.stop();
    Ok(invocations as f64 / elapsed.as_secs_f64())
}
