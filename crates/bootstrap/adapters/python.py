"""lamina's Python adapter: serves a FILE.FUNCTION handler as a worker (see PROTOCOL.md).

The bootstrap runs `python3 python.py /var/task/FILE.py FUNCTION` with the protocol on the
descriptors named by LAMINA_PROTOCOL_IN / LAMINA_PROTOCOL_OUT. The module is imported once;
FUNCTION(event, context) is called per invocation.

* event: the decoded JSON value when the event is UTF-8 JSON, else the raw `bytes`.
* result: `bytes` are sent as they are, `str` as UTF-8, anything else as `json.dumps(result)`.
* a generator: the response is streamed, each item sent as it is yielded (`bytes` as they
  are, `str` as UTF-8). A first item that is a dict sets how: `{"contentType": "text/plain"}`
  names the content type (default `application/octet-stream`); a dict with `statusCode`
  (and `headers`, `cookies`) opens a Function URL response with that status and headers.
  An exception after the first item ends the stream with the error.
* an exception: an invocation error with the exception's class name, message and traceback;
  the worker keeps serving.
"""

import importlib.util
import inspect
import json
import os
import sys
import time
import traceback

MAX_HEADER_LINE = 1024
PROTOCOL_VERSION = "2"
HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response"
PRELUDE_DELIMITER = b"\0" * 8


class Context:
    """The invocation context, shaped like the context of AWS's Python runtime."""

    def __init__(self, fields):
        self.aws_request_id = fields.get("LAMINA_REQUEST_ID", "")
        self.deadline_ms = int(fields.get("LAMINA_DEADLINE_MS", "0") or 0)
        self.invoked_function_arn = fields.get("LAMINA_FUNCTION_ARN")
        self.trace_id = fields.get("LAMINA_TRACE_ID")
        self.client_context = _json_or_none(fields.get("LAMINA_CLIENT_CONTEXT"))
        self.identity = _json_or_none(fields.get("LAMINA_COGNITO_IDENTITY"))
        self.tenant_id = fields.get("LAMINA_TENANT_ID")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")

    def get_remaining_time_in_millis(self):
        return max(0, self.deadline_ms - int(time.time() * 1000))

    def __repr__(self):
        return "Context(aws_request_id=%r)" % (self.aws_request_id,)


def _json_or_none(text):
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def decode_event(event):
    """The JSON value if `event` is UTF-8 JSON, else the bytes themselves."""
    try:
        return json.loads(event.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return event


def encode_result(result):
    if isinstance(result, (bytes, bytearray, memoryview)):
        return bytes(result)
    if isinstance(result, str):
        return result.encode("utf-8")
    return json.dumps(result).encode("utf-8")


def _utf8(text):
    return str(text).encode("utf-8", errors="replace")


def send_error(replies, kind, error_type, message, stack):
    """`kind` is INIT_ERROR, or `ERROR <id>` echoing the INVOKE's id."""
    fields = [_utf8(error_type), _utf8(message), _utf8("\n".join(stack))]
    header = "%s %d %d %d\n" % (kind, len(fields[0]), len(fields[1]), len(fields[2]))
    replies.write(header.encode("ascii") + b"".join(fields))
    replies.flush()


def send_response(replies, request_id, body):
    replies.write(b"RESPONSE %s %d\n" % (request_id, len(body)) + body)
    replies.flush()


def send_field(replies, head, field):
    replies.write(b"%s %d\n" % (head, len(field)) + field)
    replies.flush()


def send_stream(replies, request_id, generator):
    """Streams a generator's items: STREAM, a CHUNK per item, then END (or ERROR)."""
    kind = "ERROR %s" % request_id.decode("ascii")
    opened = False
    try:
        for item in generator:
            if not opened:
                opened = True
                content_type, prelude = "application/octet-stream", b""
                if isinstance(item, dict):
                    if "statusCode" in item:
                        content_type = HTTP_INTEGRATION
                        prelude = json.dumps(item).encode("utf-8") + PRELUDE_DELIMITER
                    else:
                        content_type = str(item.get("contentType", content_type))
                    item = prelude
                send_field(replies, b"STREAM " + request_id, content_type.encode("ascii"))
            if isinstance(item, str):
                item = item.encode("utf-8")
            if not isinstance(item, (bytes, bytearray, memoryview)):
                raise TypeError("a streaming handler yields bytes or str, not %s"
                                % type(item).__name__)
            if item:
                send_field(replies, b"CHUNK " + request_id, bytes(item))
    except Exception as error:
        send_error(replies, kind, type(error).__name__, str(error), stack_of(error))
        return
    if not opened:
        send_field(replies, b"STREAM " + request_id, b"application/octet-stream")
    replies.write(b"END %s\n" % request_id)
    replies.flush()


def stack_of(error):
    """Traceback lines of `error`, without this adapter's own frame."""
    tb = error.__traceback__
    if tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    lines = []
    for frame in traceback.extract_tb(tb):
        lines.append('  File "%s", line %d, in %s' % (frame.filename, frame.lineno, frame.name))
        if frame.line:
            lines.append("    " + frame.line)
    return lines


def read_exact(requests, length):
    data = requests.read(length)
    if data is None or len(data) != length:
        sys.exit("lamina python adapter: the request pipe closed in the middle of a message")
    return data


def layer_paths():
    """Where AWS's Python runtimes find packages a layer brings (`[[pip]]` layers install
    there): /opt/python/lib/pythonX.Y/site-packages, then /opt/python."""
    opt = os.environ.get("LAMINA_OPT_DIR", "/opt")
    version = "python%d.%d" % sys.version_info[:2]
    return [os.path.join(opt, "python", "lib", version, "site-packages"),
            os.path.join(opt, "python")]


def load(replies, source, function_name):
    """Imports `source` and returns its function, or reports INIT_ERROR and exits."""
    module_name = os.path.splitext(os.path.basename(source))[0]
    # The handler's folder first, then the layers' packages, then the interpreter's own: the
    # order of AWS's managed Python runtimes.
    sys.path[0:0] = [os.path.dirname(os.path.abspath(source))] + layer_paths()
    try:
        spec = importlib.util.spec_from_file_location(module_name, source)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except SyntaxError as error:
        send_error(replies, "INIT_ERROR", "Runtime.UserCodeSyntaxError",
                   "Syntax error in %s, line %s: %s" % (error.filename, error.lineno, error.msg),
                   [])
        sys.exit(1)
    except Exception as error:  # the module's top level may raise anything
        send_error(replies, "INIT_ERROR", "Runtime.ImportModuleError",
                   "Unable to import module '%s': %s: %s"
                   % (module_name, type(error).__name__, error),
                   stack_of(error))
        sys.exit(1)
    function = getattr(module, function_name, None)
    if not callable(function):
        send_error(replies, "INIT_ERROR", "Runtime.HandlerNotFound",
                   "%s has no function named '%s'" % (source, function_name), [])
        sys.exit(1)
    return function


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: python.py FILE.py FUNCTION (run by lamina's bootstrap)")
    source, function_name = sys.argv[1], sys.argv[2]
    in_fd = int(os.environ.get("LAMINA_PROTOCOL_IN", "3"))
    out_fd = int(os.environ.get("LAMINA_PROTOCOL_OUT", "4"))
    # The handler's own child processes must not inherit the protocol.
    os.set_inheritable(in_fd, False)
    os.set_inheritable(out_fd, False)
    requests = os.fdopen(in_fd, "rb")
    replies = os.fdopen(out_fd, "wb")
    # Whatever the handler prints is its log: line by line, as it happens.
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)

    if os.environ.get("LAMINA_PROTOCOL") != PROTOCOL_VERSION:
        send_error(replies, "INIT_ERROR", "Runtime.ProtocolVersionMismatch",
                   "this adapter speaks version %s of the worker protocol, the bootstrap %r"
                   % (PROTOCOL_VERSION, os.environ.get("LAMINA_PROTOCOL")), [])
        sys.exit(1)
    function = load(replies, source, function_name)
    replies.write(b"READY %s\n" % PROTOCOL_VERSION.encode("ascii"))
    replies.flush()

    while True:
        header = requests.readline(MAX_HEADER_LINE)
        if not header:
            return  # the bootstrap closed the pipe: shut down
        words = header.rstrip(b"\n").split(b" ")
        if len(words) != 4 or words[0] != b"INVOKE":
            sys.exit("lamina python adapter: unexpected message %r" % header)
        request_id = words[1]
        reply_kind = "ERROR %s" % request_id.decode("ascii")
        context_block = read_exact(requests, int(words[2]))
        event = read_exact(requests, int(words[3]))
        fields = dict(
            line.split("=", 1)
            for line in context_block.decode("utf-8", errors="replace").splitlines()
            if "=" in line
        )
        context = Context(fields)
        if context.trace_id:
            os.environ["_X_AMZN_TRACE_ID"] = context.trace_id
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        try:
            result = function(decode_event(event), context)
        except Exception as error:
            send_error(replies, reply_kind, type(error).__name__, str(error), stack_of(error))
            continue
        if inspect.isgenerator(result):
            send_stream(replies, request_id, result)
            continue
        try:
            body = encode_result(result)
        except (TypeError, ValueError) as error:
            send_error(replies, reply_kind, "Runtime.MarshalError",
                       "Unable to marshal response: %s" % error, [])
            continue
        send_response(replies, request_id, body)


if __name__ == "__main__":
    main()
