#!/bin/sh
# An executable handler (_HANDLER=handler.sh): lamina's bootstrap runs it once per event
# with the event on stdin; stdout is the response, stderr the log.
#
# Event: {"xpath": "EXPRESSION"}, evaluated against catalog.xml with xmlstarlet, which
# comes from the xmlstarlet layer (/opt/bin is on Lambda's PATH; its libraries are in
# /opt/lib). Answer: {"xpath": "...", "result": "..."}.
set -eu
event=$(cat)
# No jq on provided.al2023: take "xpath" out of a flat JSON object with sed (no quotes
# or backslashes inside it).
xpath=$(printf '%s' "$event" | sed -n 's/.*"xpath"[[:space:]]*:[[:space:]]*"\([^"\\]*\)".*/\1/p')
if [ -z "$xpath" ]; then
    echo 'the event needs an "xpath", e.g. {"xpath":"count(//book)"}' >&2
    exit 2
fi
echo "evaluating $xpath with $(command -v xmlstarlet)" >&2
result=$(xmlstarlet sel -t -v "$xpath" "$LAMBDA_TASK_ROOT/catalog.xml" | tr '\n' ' ' | sed 's/ $//; s/["\\]/\\&/g')
printf '{"xpath":"%s","result":"%s"}' "$xpath" "$result"
