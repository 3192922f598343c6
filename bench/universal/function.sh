# The walkthrough's handler, greeting like every other benchmarked function.
function handler () {
  EVENT_DATA=$1
  NAME=$(sed -n 's/.*"name"[[:space:]]*:[[:space:]]*"\([^"\\]*\)".*/\1/p' <<<"$EVENT_DATA")
  echo "{\"message\":\"Hello, $NAME!\"}"
}
