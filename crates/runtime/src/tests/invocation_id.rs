//! `Lambda-Runtime-Invocation-Id` (issue #23): every answer of every serving form echoes the
//! nonce its `/next` carried, against a fake Runtime API that refuses (400) an answer that
//! does not; an event without one is answered without one.

use std::io::Write as _;
use std::sync::Arc;

use super::{FakeApi, INVOCATION_ID, Reply, Seen, event, handler, reply, serve};
use crate::concurrent::SharedHandler;
use crate::serve::FatalError;
use crate::{Context, Error};

/// `event` with the nonce `nonce-{request_id}`.
fn with_nonce(request_id: &str, body: &str) -> Reply {
    let mut reply = event(request_id, body);
    reply
        .headers
        .push((INVOCATION_ID.into(), format!("nonce-{request_id}")));
    reply
}

/// Every post echoed its own request's nonce and was taken.
fn assert_echoed(posts: &[Seen], count: usize) {
    assert_eq!(posts.len(), count, "{posts:?}");
    for post in posts {
        let id = post.path.split('/').rev().nth(1).unwrap();
        assert_eq!(
            post.header(INVOCATION_ID),
            Some(format!("nonce-{id}").as_str()),
            "{post:?}"
        );
        assert_eq!(post.status, 202, "{}: {}", post.path, post.body_text());
    }
}

#[test]
fn buffered_answers_and_errors_echo_the_nonce() {
    let api = FakeApi::start(
        vec![
            with_nonce("ok", r#"{"name":"Ada"}"#),
            with_nonce("error", r#"{"do":"error"}"#),
            with_nonce("panic", r#"{"do":"panic"}"#),
            with_nonce("big", r#"{"do":"big"}"#),
            with_nonce("bad-event", "not json"),
        ],
        reply(202, ""),
    );
    serve(&api);
    let posts = api.posts();
    assert_echoed(&posts, 5);
    assert!(posts[0].path.ends_with("/ok/response"));
    assert!(posts[1..].iter().all(|post| post.path.ends_with("/error")));
}

#[test]
fn an_unusable_context_is_reported_with_the_nonce() {
    let mut bad = with_nonce("bad-deadline", "{}");
    for (name, value) in &mut bad.headers {
        if name == "Lambda-Runtime-Deadline-Ms" {
            *value = "soon".into();
        }
    }
    let api = FakeApi::start(vec![bad], reply(202, ""));
    serve(&api);
    let posts = api.posts();
    assert_echoed(&posts, 1);
    assert!(posts[0].path.ends_with("/bad-deadline/error"));
}

#[test]
fn streamed_answers_echo_the_nonce_on_every_route() {
    let api = FakeApi::start(
        vec![
            with_nonce("streamed", "\"stream\""),
            with_nonce("broke-after", "\"broke-after\""),
            with_nonce("broke-before", "\"broke-before\""),
            with_nonce("whole", "\"whole\""),
        ],
        reply(202, ""),
    );
    let fatal =
        api.runtime("")
            .serve_streaming(&mut |event, _, out| match String::from_utf8_lossy(&event)
                .trim_matches('"')
            {
                "stream" => out.write_all(b"chunk").map_err(Error::from),
                "broke-after" => {
                    out.write_all(b"chunk")?;
                    Err(Error::new("Stream.Broke", "after the first byte"))
                }
                "broke-before" => Err(Error::new("Stream.Broke", "before any byte")),
                _ => out.respond_buffered(b"whole".to_vec()).map_err(Error::from),
            });
    assert!(
        matches!(fatal, FatalError::ContainerError { .. }),
        "{fatal}"
    );
    let posts = api.posts();
    assert_echoed(&posts, 4);
    assert_eq!(posts[0].chunks, vec![b"chunk".to_vec()]);
    assert_eq!(posts[1].trailers.len(), 2, "{:?}", posts[1].trailers);
    assert!(posts[2].path.ends_with("/broke-before/error"));
    assert_eq!(posts[3].body, b"whole");
}

#[test]
fn concurrent_slots_each_echo_their_own_nonce() {
    let events = (0..40)
        .map(|n| with_nonce(&format!("req-{n}"), &format!("{{\"n\":{n}}}")))
        .collect();
    let api = FakeApi::start(events, reply(202, ""));
    let shared: Arc<SharedHandler> =
        Arc::new(|body: Vec<u8>, _: &Context| -> Result<Vec<u8>, Error> { Ok(body) });
    let fatal = api.runtime("").serve_concurrent(4, shared);
    assert!(
        matches!(fatal, FatalError::ContainerError { .. }),
        "{fatal}"
    );
    // Slots still finishing when the first found `/next` empty: wait for all 40.
    super::concurrent::wait_for_posts(&api, 40);
    assert_echoed(&api.posts(), 40);
}

#[test]
fn without_a_nonce_nothing_is_echoed() {
    let api = FakeApi::start(vec![event("old", r#"{"name":"Ada"}"#)], reply(202, ""));
    let fatal = api.runtime("").serve(&mut handler);
    assert!(matches!(fatal, FatalError::ContainerError { .. }));
    let posts = api.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].header(INVOCATION_ID), None);
    assert_eq!(posts[0].status, 202);
}
