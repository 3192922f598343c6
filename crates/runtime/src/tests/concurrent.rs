//! Several invocations at once from one process, against the fake Runtime API.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::{FakeApi, Seen, event, reply};
use crate::concurrent::SharedHandler;
use crate::serve::FatalError;
use crate::{Context, Error};

const SLOTS: usize = 8;
const INVOCATIONS: usize = 1000;

/// Waits until the server has seen `count` posts (slots still finishing when the first one
/// found `/next` empty and stopped).
pub(super) fn wait_for_posts(api: &FakeApi, count: usize) -> Vec<Seen> {
    let start = Instant::now();
    loop {
        let posts = api.posts();
        if posts.len() >= count || start.elapsed() > Duration::from_secs(30) {
            return posts;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_thousand_invocations_on_eight_slots_are_none_lost_none_crossed_and_a_panic_fails_only_its_own()
{
    let events = (0..INVOCATIONS)
        .map(|n| event(&format!("req-{n}"), &format!("{{\"n\":{n}}}")))
        .collect();
    let api = FakeApi::start(events, reply(202, ""));
    // The first SLOTS invocations wait (up to 10 s) until SLOTS run at once: a runtime that
    // serves fewer at a time fails the peak assertion below instead of passing by luck.
    let gate = Arc::new((Mutex::new(0usize), Condvar::new()));
    let peak = Arc::new(AtomicUsize::new(0));
    let running = Arc::new(AtomicUsize::new(0));
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let handler: Arc<SharedHandler> = {
        let (gate, peak, running, threads) =
            (gate.clone(), peak.clone(), running.clone(), threads.clone());
        Arc::new(move |body: Vec<u8>, context: &Context| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            threads.lock().unwrap().insert(std::thread::current().id());
            {
                let (arrived, all_here) = &*gate;
                let mut arrived = arrived.lock().unwrap();
                if *arrived < SLOTS {
                    *arrived += 1;
                    all_here.notify_all();
                    let _ = all_here
                        .wait_timeout_while(arrived, Duration::from_secs(10), |n| *n < SLOTS)
                        .unwrap();
                }
            }
            running.fetch_sub(1, Ordering::SeqCst);
            if context.request_id == "req-500" {
                panic!("slot panic at {}", context.request_id);
            }
            if context.request_id == "req-501" {
                return Err(Error::new("Handler.Refused", "refused req-501"));
            }
            let body = String::from_utf8_lossy(&body).into_owned();
            Ok(format!("{}={body}", context.request_id).into_bytes())
        })
    };
    let fatal = api.runtime("").serve_concurrent(SLOTS, handler);
    assert!(
        matches!(fatal, FatalError::ContainerError { .. }),
        "{fatal}"
    );
    let posts = wait_for_posts(&api, INVOCATIONS);
    assert_eq!(posts.len(), INVOCATIONS, "every invocation answered once");

    let mut answered = HashSet::new();
    for post in &posts {
        let rest = post
            .path
            .strip_prefix("/2018-06-01/runtime/invocation/")
            .unwrap();
        let (id, kind) = rest.split_once('/').unwrap();
        assert!(answered.insert(id.to_string()), "{id} answered twice");
        let n: usize = id.strip_prefix("req-").unwrap().parse().unwrap();
        match n {
            500 => {
                assert_eq!(kind, "error");
                assert!(post.body_text().contains("Runtime.HandlerPanic"));
                assert!(post.body_text().contains("slot panic at req-500"));
            }
            501 => {
                assert_eq!(kind, "error");
                assert!(post.body_text().contains("Handler.Refused"));
            }
            _ => {
                assert_eq!(kind, "response");
                assert_eq!(post.body_text(), format!("{id}={{\"n\":{n}}}"), "crossed");
            }
        }
    }
    assert_eq!(peak.load(Ordering::SeqCst), SLOTS, "invocations at once");
    assert_eq!(threads.lock().unwrap().len(), SLOTS, "one thread per slot");
}

#[test]
fn one_slot_is_the_sequential_loop() {
    let api = FakeApi::start(vec![event("a", "1"), event("b", "2")], reply(202, ""));
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let seen_threads = threads.clone();
    let handler: Arc<SharedHandler> = Arc::new(move |body: Vec<u8>, _: &Context| {
        seen_threads
            .lock()
            .unwrap()
            .insert(std::thread::current().id());
        Ok(body)
    });
    let fatal = api.runtime("").serve_concurrent(1, handler);
    assert!(matches!(fatal, FatalError::ContainerError { .. }));
    assert_eq!(api.posts().len(), 2);
    assert_eq!(
        threads.lock().unwrap().iter().copied().collect::<Vec<_>>(),
        vec![std::thread::current().id()],
        "served on the caller's thread"
    );
}
