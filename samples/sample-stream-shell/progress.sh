#!/bin/sh
# Prints a line per step, a moment apart: the caller reads each line as it is printed,
# not all of them when the script ends. The event may say how many steps: {"steps":5}.
set -eu
event=$(cat)
steps=$(printf '%s' "$event" | sed -n 's/.*"steps"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p')
steps=${steps:-3}
i=1
while [ "$i" -le "$steps" ]; do
    echo "step $i of $steps"
    echo "progress.sh: step $i done" >&2
    [ "$i" -lt "$steps" ] && sleep 0.3
    i=$((i + 1))
done
echo "done"
