#!/bin/bash
# An executable handler: _HANDLER=greet.sh
#
# lamina's bootstrap runs this file once per invocation: the event on stdin, the context in
# LAMINA_* variables, the response on stdout. Exit 0 succeeds; any other status fails the
# invocation with that status and the last lines of stderr (which also go to the log).
event=$(cat)
name=$(sed -n 's/.*"name"[[:space:]]*:[[:space:]]*"\([^"\\]*\)".*/\1/p' <<<"$event")
echo "request $LAMINA_REQUEST_ID: greeting '${name}'" >&2
if [[ -z $name ]]; then
    echo 'the event needs a "name", e.g. {"name":"Ada"}' >&2
    exit 2
fi
printf '{"message":"Hello, %s!"}' "$name"
