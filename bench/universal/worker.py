#!/usr/bin/env python3
"""A worker in lamina's protocol (PROTOCOL.md), greeting like the other benchmarked functions."""
import json
import os

requests = os.fdopen(int(os.environ["LAMINA_PROTOCOL_IN"]), "rb")
replies = os.fdopen(int(os.environ["LAMINA_PROTOCOL_OUT"]), "wb")
replies.write(b"READY 2\n")
replies.flush()
while header := requests.readline():
    _, request_id, context_length, event_length = header.split()
    requests.read(int(context_length))
    event = json.loads(requests.read(int(event_length)))
    body = json.dumps({"message": f"Hello, {event['name']}!"}).encode()
    replies.write(b"RESPONSE %s %d\n" % (request_id, len(body)) + body)
    replies.flush()
