//! Streaming handlers against the fake Runtime API, which records each chunk as it arrives.

use std::io::Write;

use base64::Engine;

use super::{FakeApi, Seen, event, reply};
use crate::serve::FatalError;
use crate::stream::HttpPrelude;
use crate::{Context, Error, ResponseStream};

/// Serves the scripted events with `handler` until `/next` answers 500, then returns the
/// requests the server saw.
fn serve(
    api: &FakeApi,
    mut handler: impl FnMut(Vec<u8>, &Context, &mut ResponseStream) -> Result<(), Error>,
) -> Vec<Seen> {
    let fatal = api.runtime("").serve_streaming(&mut handler);
    assert!(
        matches!(fatal, FatalError::ContainerError { .. }),
        "{fatal}"
    );
    api.posts()
}

#[test]
fn each_write_reaches_the_server_before_the_handler_returns() {
    let api = FakeApi::start(vec![event("req-1", "{}")], reply(202, ""));
    let live = api.live.clone();
    let posts = serve(&api, |_, _, out| {
        out.write_all(b"first")?;
        // The server holds the first chunk while the handler is still running.
        let seen = FakeApi::wait_for_chunks(&live, 1);
        assert_eq!(seen, vec![b"first".to_vec()]);
        out.write_all(b"second")?;
        Ok(())
    });
    assert_eq!(posts.len(), 1);
    let post = &posts[0];
    assert_eq!(post.path, "/2018-06-01/runtime/invocation/req-1/response");
    assert_eq!(
        post.header("Lambda-Runtime-Function-Response-Mode"),
        Some("streaming")
    );
    assert_eq!(post.header("Transfer-Encoding"), Some("chunked"));
    assert_eq!(post.chunks, vec![b"first".to_vec(), b"second".to_vec()]);
    assert!(post.trailers.is_empty(), "{:?}", post.trailers);
}

fn trailer<'a>(post: &'a Seen, name: &str) -> &'a str {
    post.trailers
        .iter()
        .find(|(found, _)| found.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
        .unwrap_or_else(|| panic!("no trailer {name} in {:?}", post.trailers))
}

fn trailer_body(post: &Seen) -> serde_json::Value {
    let encoded = trailer(post, "Lambda-Runtime-Function-Error-Body");
    let json = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    serde_json::from_slice(&json).unwrap()
}

#[test]
fn an_error_after_the_first_byte_goes_in_the_trailers() {
    let api = FakeApi::start(vec![event("req-1", "{}")], reply(202, ""));
    let posts = serve(&api, |_, _, out| {
        out.write_all(b"partial")?;
        Err(Error::new("Stream.Broke", "the source went away"))
    });
    assert_eq!(posts.len(), 1, "{posts:?}");
    let post = &posts[0];
    assert!(post.path.ends_with("/req-1/response"), "{}", post.path);
    assert_eq!(post.chunks, vec![b"partial".to_vec()]);
    assert_eq!(
        trailer(post, "Lambda-Runtime-Function-Error-Type"),
        "Stream.Broke"
    );
    assert_eq!(
        trailer_body(post),
        serde_json::json!({
            "errorType": "Stream.Broke",
            "errorMessage": "the source went away",
            "stackTrace": []
        })
    );
}

#[test]
fn a_panic_after_the_first_byte_goes_in_the_trailers_and_the_next_event_is_served() {
    let api = FakeApi::start(
        vec![event("req-1", "\"panic\""), event("req-2", "\"ok\"")],
        reply(202, ""),
    );
    let posts = serve(&api, |event, _, out| {
        out.write_all(b"x")?;
        if event == b"\"panic\"" {
            panic!("slot broke");
        }
        Ok(())
    });
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert_eq!(
        trailer(&posts[0], "Lambda-Runtime-Function-Error-Type"),
        "Runtime.HandlerPanic"
    );
    assert_eq!(trailer_body(&posts[0])["errorMessage"], "slot broke");
    assert!(posts[1].path.ends_with("/req-2/response"));
    assert!(posts[1].trailers.is_empty());
}

#[test]
fn an_error_before_any_byte_is_posted_to_error() {
    let api = FakeApi::start(vec![event("req-1", "{}")], reply(202, ""));
    let posts = serve(&api, |_, _, _| {
        Err(Error::new("Order.NotFound", "no order 7"))
    });
    assert_eq!(posts.len(), 1, "{posts:?}");
    let post = &posts[0];
    assert_eq!(post.path, "/2018-06-01/runtime/invocation/req-1/error");
    assert_eq!(
        post.header("Lambda-Runtime-Function-Error-Type"),
        Some("Order.NotFound")
    );
    assert!(post.body_text().contains("no order 7"));
}

#[test]
fn nothing_written_is_an_empty_streamed_response() {
    let api = FakeApi::start(vec![event("req-1", "{}")], reply(202, ""));
    let posts = serve(&api, |_, _, _| Ok(()));
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert!(posts[0].path.ends_with("/req-1/response"));
    assert_eq!(posts[0].header("Transfer-Encoding"), Some("chunked"));
    assert!(posts[0].body.is_empty());
}

#[test]
fn the_http_prelude_opens_the_body_byte_for_byte() {
    let api = FakeApi::start(vec![event("req-1", "{}")], reply(202, ""));
    let posts = serve(&api, |_, _, out| {
        let mut prelude = HttpPrelude::new(200);
        prelude
            .headers
            .insert("content-type".into(), "text/html".into());
        prelude.cookies.push("session=1".into());
        out.start_http(&prelude)?;
        out.write_all(b"<p>hi</p>")?;
        Ok(())
    });
    let post = &posts[0];
    assert_eq!(
        post.header("Content-Type"),
        Some("application/vnd.awslambda.http-integration-response")
    );
    let expected: &[u8] = b"{\"statusCode\":200,\"headers\":{\"content-type\":\"text/html\"},\"cookies\":[\"session=1\"]}\0\0\0\0\0\0\0\0<p>hi</p>";
    assert_eq!(post.body, expected);
}

#[test]
fn the_content_type_cannot_change_after_the_first_byte() {
    let api = FakeApi::start(vec![event("req-1", "{}")], reply(202, ""));
    let posts = serve(&api, |_, _, out| {
        out.set_content_type("text/plain")?;
        out.write_all(b"a")?;
        assert!(out.set_content_type("text/html").is_err());
        assert!(out.start_http(&HttpPrelude::new(200)).is_err());
        Ok(())
    });
    assert_eq!(posts[0].header("Content-Type"), Some("text/plain"));
    assert_eq!(posts[0].body, b"a");
}

#[test]
fn a_buffered_answer_is_posted_whole_and_stops_later_writes() {
    let big = vec![b'x'; crate::MAX_RESPONSE_BYTES + 1];
    let api = FakeApi::start(
        vec![event("req-1", "{}"), event("req-2", "{}")],
        reply(202, ""),
    );
    let posts = serve(&api, move |_, context, out| {
        if context.request_id == "req-1" {
            out.respond_buffered(b"{\"whole\":true}".to_vec())?;
            assert!(
                out.write_all(b"more").is_err(),
                "a write after a buffered answer"
            );
        } else {
            out.respond_buffered(big.clone())?;
        }
        Ok(())
    });
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert!(posts[0].path.ends_with("/req-1/response"));
    assert_eq!(posts[0].header("Transfer-Encoding"), None);
    assert_eq!(
        posts[0].header("Lambda-Runtime-Function-Response-Mode"),
        None
    );
    assert_eq!(posts[0].body, b"{\"whole\":true}");
    // Over 6 MB buffered is refused as a buffered handler's response is.
    assert!(posts[1].path.ends_with("/req-2/error"), "{}", posts[1].path);
    assert_eq!(
        posts[1].header("Lambda-Runtime-Function-Error-Type"),
        Some("Runtime.ResponseTooLarge")
    );
}

#[test]
fn a_buffered_answer_cannot_follow_streamed_bytes() {
    let api = FakeApi::start(vec![event("req-1", "{}")], reply(202, ""));
    let posts = serve(&api, |_, _, out| {
        out.write_all(b"a")?;
        assert!(out.respond_buffered(b"b".to_vec()).is_err());
        Ok(())
    });
    assert_eq!(posts[0].header("Transfer-Encoding"), Some("chunked"));
    assert_eq!(posts[0].body, b"a");
}

#[cfg(feature = "tokio")]
mod asynchronous {
    use tokio::io::AsyncWriteExt as _;

    use super::{FakeApi, event, reply, serve, trailer, trailer_body};
    use crate::asynchronous_streaming::{on_handle, on_runtime};
    use crate::{AsyncResponseStream, Context, Error};

    fn tokio() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn an_async_handler_streams_each_write_before_its_future_ends() {
        let api = FakeApi::start(vec![event("req-1", "\"go\"")], reply(202, ""));
        let live = api.live.clone();
        let mut handler = on_runtime(
            tokio(),
            move |event: String, context: Context, out: AsyncResponseStream| {
                let live = live.clone();
                async move {
                    assert_eq!(event, "go");
                    out.send(format!("{} first", context.request_id).as_bytes())?;
                    let seen = FakeApi::wait_for_chunks(&live, 1);
                    assert_eq!(seen, vec![b"req-1 first".to_vec()]);
                    let mut out = out;
                    out.write_all(b"second")
                        .await
                        .map_err(|e| Error::msg(e.to_string()))
                }
            },
        );
        let posts = serve(&api, |event, context, out| handler(event, context, out));
        assert_eq!(posts.len(), 1, "{posts:?}");
        assert_eq!(
            posts[0].chunks,
            vec![b"req-1 first".to_vec(), b"second".to_vec()]
        );
        assert!(posts[0].trailers.is_empty(), "{:?}", posts[0].trailers);
    }

    #[test]
    fn an_async_error_or_panic_after_the_first_byte_goes_in_the_trailers() {
        let api = FakeApi::start(
            vec![
                event("req-1", "\"error\""),
                event("req-2", "\"panic\""),
                event("req-3", "\"ok\""),
            ],
            reply(202, ""),
        );
        let mut handler = on_runtime(
            tokio(),
            |event: String, _: Context, out: AsyncResponseStream| async move {
                out.send(b"partial")?;
                match event.as_str() {
                    "error" => Err(Error::new("Stream.Broke", "the source went away")),
                    "panic" => panic!("async slot broke"),
                    _ => Ok(()),
                }
            },
        );
        let posts = serve(&api, |event, context, out| handler(event, context, out));
        assert_eq!(posts.len(), 3, "{posts:?}");
        assert_eq!(
            trailer(&posts[0], "Lambda-Runtime-Function-Error-Type"),
            "Stream.Broke"
        );
        assert_eq!(posts[0].chunks, vec![b"partial".to_vec()]);
        assert_eq!(
            trailer(&posts[1], "Lambda-Runtime-Function-Error-Type"),
            "Runtime.HandlerPanic"
        );
        assert_eq!(trailer_body(&posts[1])["errorMessage"], "async slot broke");
        assert!(posts[2].path.ends_with("/req-3/response"));
        assert!(posts[2].trailers.is_empty());
    }

    /// The concurrent async streaming form: each slot runs its future through a `Handle` while
    /// another thread drives the runtime (with a tokio timer, which only that thread drives);
    /// an error and a panic after the first byte still go in the trailers.
    #[test]
    fn a_shared_async_handler_streams_through_a_driven_handle() {
        let api = FakeApi::start(
            vec![
                event("req-1", "\"ok\""),
                event("req-2", "\"error\""),
                event("req-3", "\"panic\""),
            ],
            reply(202, ""),
        );
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let handle = tokio.handle().clone();
        std::thread::spawn(move || tokio.block_on(std::future::pending::<()>()));
        let handler = on_handle(
            handle,
            |event: String, context: Context, out: AsyncResponseStream| async move {
                out.send(format!("{} ", context.request_id).as_bytes())?;
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                match event.as_str() {
                    "error" => Err(Error::new("Stream.Broke", "the source went away")),
                    "panic" => panic!("shared slot broke"),
                    _ => out.send(b"done").map_err(Error::from),
                }
            },
        );
        let posts = serve(&api, |event, context, out| handler(event, context, out));
        assert_eq!(posts.len(), 3, "{posts:?}");
        assert_eq!(posts[0].chunks, vec![b"req-1 ".to_vec(), b"done".to_vec()]);
        assert!(posts[0].trailers.is_empty(), "{:?}", posts[0].trailers);
        assert_eq!(
            trailer(&posts[1], "Lambda-Runtime-Function-Error-Type"),
            "Stream.Broke"
        );
        assert_eq!(
            trailer(&posts[2], "Lambda-Runtime-Function-Error-Type"),
            "Runtime.HandlerPanic"
        );
        assert_eq!(trailer_body(&posts[2])["errorMessage"], "shared slot broke");
    }
}
