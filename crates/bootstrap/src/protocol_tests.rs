//! Tests of the protocol's framing, ids and version-1 detection.

use super::*;

fn all_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 256) as u8).collect()
}

#[test]
fn replies_round_trip_byte_by_byte() {
    let response = |id: &str, body: Vec<u8>| Reply::Response {
        id: id.into(),
        body,
    };
    let replies = [
        Reply::Ready {
            version: Some(VERSION.into()),
        },
        Reply::Ready { version: None },
        response("8f5c2d1e-0b1a-4c2e-9d3f-1a2b3c4d5e6f", all_bytes(1000)),
        response("req%201", Vec::new()),
        Reply::Error {
            id: "7".into(),
            error: InvocationError {
                error_type: "ValueError".into(),
                message: "bad\nvalue é".into(),
                stack_trace: vec!["  File \"h.py\", line 3".into(), "    raise".into()],
            },
        },
        Reply::InitError(InvocationError::new(
            "Runtime.ImportModuleError",
            "no module",
        )),
        Reply::Stream {
            id: "s1".into(),
            content_type: b"text/plain; charset=utf-8".to_vec(),
        },
        Reply::Chunk {
            id: "s1".into(),
            data: all_bytes(300),
        },
        Reply::Chunk {
            id: "s1".into(),
            data: Vec::new(),
        },
        Reply::End { id: "s1".into() },
    ];
    let mut stream = Vec::new();
    for reply in &replies {
        stream.extend(encode_reply(reply));
    }
    let mut decoder = Decoder::default();
    let mut decoded = Vec::new();
    for byte in stream {
        decoder.push(&[byte]);
        while let Some(reply) = decoder.next_reply().unwrap() {
            decoded.push(reply);
        }
    }
    assert_eq!(decoded, replies);
    assert_eq!(decoder.pending(), 0);
}

#[test]
fn invoke_carries_context_and_any_bytes() {
    let deadline = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_000);
    let mut context = Context::new("req-1", deadline);
    context.invoked_function_arn = Some("arn:aws:lambda:us-east-1:123:function:f".into());
    context.trace_id = Some("Root=1-abc;Sampled=1".into());
    context.client_context = Some(serde_json::json!({"a": "line\nbreak"}));
    context.invocation_id = Some("0b7e-delivery-nonce".into());
    let event = all_bytes(70_000);
    let mut stream = encode_invoke_head("req-1", &context, event.len());
    stream.extend_from_slice(&event);
    let mut decoder = Decoder::default();
    decoder.push(&stream);
    let request = decoder.next_request().unwrap().unwrap();
    assert_eq!(request.id, "req-1");
    assert_eq!(request.event, event);
    let context: Vec<String> = request
        .context
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    insta::assert_snapshot!(context.join("\n"), @r#"
    LAMINA_REQUEST_ID=req-1
    LAMINA_DEADLINE_MS=1700000000000
    LAMINA_FUNCTION_ARN=arn:aws:lambda:us-east-1:123:function:f
    LAMINA_TRACE_ID=Root=1-abc;Sampled=1
    LAMINA_CLIENT_CONTEXT={"a":"line\nbreak"}
    LAMINA_INVOCATION_ID=0b7e-delivery-nonce
    "#);
}

#[test]
fn ids_travel_as_one_visible_word_and_stay_distinct() {
    assert_eq!(
        frame_id("8f5c2d1e-0b1a-4c2e-9d3f-1a2b3c4d5e6f").as_deref(),
        Some("8f5c2d1e-0b1a-4c2e-9d3f-1a2b3c4d5e6f")
    );
    assert_eq!(frame_id("a b%\né").as_deref(), Some("a%20b%25%0A%C3%A9"));
    assert_ne!(frame_id("a b"), frame_id("a%20b"));
    assert_eq!(frame_id(""), None);
    assert_eq!(frame_id(&"x".repeat(MAX_ID + 1)), None);
}

#[test]
fn version_1_replies_say_what_changed() {
    for old in [&b"RESPONSE 5\nhello"[..], b"ERROR 1 2 0\nxyz"] {
        let mut decoder = Decoder::default();
        decoder.push(old);
        let error = decoder.next_reply().unwrap_err();
        assert!(matches!(error, ProtocolError::MissingId { .. }), "{error}");
    }
    let mut decoder = Decoder::default();
    decoder.push(b"RESPONSE 5\nhello");
    insta::assert_snapshot!(decoder.next_reply().unwrap_err(), @"`RESPONSE 5`, a reply without the request id, as version 1 of the protocol wrote them; in version 2, READY announces the version (`READY 2`), INVOKE carries the request id (`INVOKE <id> <context> <event>`), and RESPONSE and ERROR echo it (`RESPONSE <id> <body>`, `ERROR <id> <type> <message> <stack>`); see PROTOCOL.md");
}

#[test]
fn malformed_headers_are_errors() {
    for bad in [
        &b"HELLO\n"[..],
        b"RESPONSE\n",
        b"RESPONSE id 1 2\n",
        b"RESPONSE id -1\n",
        b"RESPONSE id  1\n",
        b"RESPONSE  1\n",
        b"ERROR id 1 2\n",
        b"READY 2 0\n",
        b"RESPONSE \x01 1\n",
        b"STREAM id\n",
        b"CHUNK id 1 2\n",
        b"END id 0\n",
        b"END\n",
    ] {
        let mut decoder = Decoder::default();
        decoder.push(bad);
        assert!(
            matches!(decoder.next_reply(), Err(ProtocolError::BadHeader { .. })),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    let mut decoder = Decoder::default();
    decoder.push(&[b'x'; MAX_HEADER_LINE]);
    assert!(matches!(
        decoder.next_reply(),
        Err(ProtocolError::LineTooLong { .. })
    ));
    let mut decoder = Decoder::default();
    decoder.push(b"RESPONSE id 99999999999\n");
    assert!(matches!(
        decoder.next_reply(),
        Err(ProtocolError::FieldTooLarge { .. })
    ));
}
