"""A Python handler: _HANDLER=handler.handle

lamina's Python adapter imports this module once, then calls handle(event, context) for each
event. `event` is the decoded JSON; the returned dict is sent back as JSON. An exception fails
the invocation with the exception's class name as the error type.
"""


class InvalidEvent(Exception):
    """The event does not say whom to greet."""


def handle(event, context):
    name = event.get("name") if isinstance(event, dict) else None
    print("request %s: greeting %r" % (context.aws_request_id, name))
    if not name:
        raise InvalidEvent('the event needs a "name", e.g. {"name":"Ada"}')
    return {"message": "Hello, %s!" % name}
