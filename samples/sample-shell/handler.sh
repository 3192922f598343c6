# A shell-function handler: _HANDLER=handler.handle
#
# lamina's shell adapter sources this file once, then calls `handle` for each event with
# the event on stdin. What `handle` prints on stdout is the response; what it prints on
# stderr goes to the function's log. Returning non-zero fails the invocation; set
# LAMINA_ERROR_TYPE (and optionally LAMINA_ERROR_MESSAGE) to choose how it is reported.

# Runs once, when the worker starts (like code outside the handler in Python or Perl).
GREETING=${GREETING:-Hello}

handle() {
    local event name
    event=$(cat)
    # No jq on provided.al2023: take "name" out of a flat JSON object with sed.
    name=$(sed -n 's/.*"name"[[:space:]]*:[[:space:]]*"\([^"\\]*\)".*/\1/p' <<<"$event")
    echo "request $LAMINA_REQUEST_ID: greeting '${name}'" >&2
    if [[ -z $name ]]; then
        LAMINA_ERROR_TYPE=InvalidEvent
        LAMINA_ERROR_MESSAGE='the event needs a "name", e.g. {"name":"Ada"}'
        return 1
    fi
    printf '{"message":"%s, %s!"}' "$GREETING" "$name"
}
