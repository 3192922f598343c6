# lamina's shell adapter: serves a FILE.FUNCTION handler as a worker (see PROTOCOL.md).
#
# The bootstrap runs `bash shell.sh /var/task/FILE.sh FUNCTION` with the protocol on the
# descriptors named by LAMINA_PROTOCOL_IN / LAMINA_PROTOCOL_OUT. FILE.sh is sourced once; per
# invocation FUNCTION runs in a subshell with the event on stdin and the context in LAMINA_*
# variables (and _X_AMZN_TRACE_ID). Its stdout is the response; its stderr goes to the log.
# Status 0 is success. Any other status (or `exit N`) is an invocation error of type
# $LAMINA_ERROR_TYPE (default HandlerError) whose message is $LAMINA_ERROR_MESSAGE if the
# function set it, else the status and the last lines of its stderr.
# Needs coreutils (head, tail, tee, wc), as on provided.al2023.

__lamina_source=$1
__lamina_function=$2
__lamina_in=${LAMINA_PROTOCOL_IN:-3}
__lamina_out=${LAMINA_PROTOCOL_OUT:-4}
__lamina_context_names="LAMINA_REQUEST_ID LAMINA_DEADLINE_MS LAMINA_FUNCTION_ARN LAMINA_TRACE_ID LAMINA_CLIENT_CONTEXT LAMINA_COGNITO_IDENTITY LAMINA_TENANT_ID LAMINA_INVOCATION_ID _X_AMZN_TRACE_ID"

# Scratch files of this worker, named by its pid. A worker killed for a timeout cannot clean
# up, so the folders of workers that are gone are removed here.
for __lamina_stale in "${TMPDIR:-/tmp}"/lamina-shell.*; do
    [[ -d $__lamina_stale ]] && ! kill -0 "${__lamina_stale##*.}" 2>/dev/null && rm -rf "$__lamina_stale"
done
__lamina_tmp="${TMPDIR:-/tmp}/lamina-shell.$$"
rm -rf "$__lamina_tmp" && mkdir -m 700 "$__lamina_tmp" || exit 1
trap 'rm -rf "$__lamina_tmp"' EXIT

# Byte length of $1, whatever the locale.
__lamina_bytes() {
    local LC_ALL=C
    printf '%d' "${#1}"
}

# __lamina_send_error KIND TYPE MESSAGE: one INIT_ERROR or `ERROR <id>` message (no stack lines).
__lamina_send_error() {
    printf '%s %d %d 0\n%s%s' "$1" "$(__lamina_bytes "$2")" "$(__lamina_bytes "$3")" "$2" "$3" >&"$__lamina_out"
}

if [[ ${LAMINA_PROTOCOL-} != 2 ]]; then
    __lamina_send_error INIT_ERROR Runtime.ProtocolVersionMismatch \
        "this adapter speaks version 2 of the worker protocol, the bootstrap '${LAMINA_PROTOCOL-}'"
    exit 1
fi
if [[ -z $__lamina_function ]]; then
    echo "usage: shell.sh FILE.sh FUNCTION (run by lamina's bootstrap)" >&2
    exit 64
fi

# Load the handler file once, without giving it the protocol descriptors.
source "$__lamina_source" {__lamina_in}<&- {__lamina_out}>&-
__lamina_status=$?
# The file may have set shell options (set -euo pipefail): keep them for the handler only.
__lamina_user_options=$(set +o)
set +e +u +o pipefail
if ((__lamina_status != 0)); then
    __lamina_send_error INIT_ERROR Runtime.ImportModuleError \
        "sourcing $__lamina_source failed with status $__lamina_status (see the log for its errors)"
    exit 1
fi
if ! declare -F "$__lamina_function" >/dev/null; then
    __lamina_send_error INIT_ERROR Runtime.HandlerNotFound \
        "$__lamina_source defines no function named '$__lamina_function'"
    exit 1
fi
printf 'READY 2\n' >&"$__lamina_out"

while IFS=' ' read -r __lamina_kind __lamina_id __lamina_context_length __lamina_event_length <&"$__lamina_in"; do
    if [[ $__lamina_kind != INVOKE || -z $__lamina_event_length ]]; then
        echo "lamina shell adapter: unexpected message '$__lamina_kind'" >&2
        exit 65
    fi
    unset $__lamina_context_names
    __lamina_context=
    if ((__lamina_context_length > 0)); then
        LC_ALL=C read -r -N "$__lamina_context_length" __lamina_context <&"$__lamina_in"
    fi
    while IFS= read -r __lamina_line; do
        if [[ $__lamina_line =~ ^(LAMINA_[A-Z_]+)=(.*)$ ]]; then
            export "${BASH_REMATCH[1]}=${BASH_REMATCH[2]}"
        fi
    done <<<"$__lamina_context"
    if [[ -n ${LAMINA_TRACE_ID-} ]]; then
        export _X_AMZN_TRACE_ID=$LAMINA_TRACE_ID
    fi
    head -c "$__lamina_event_length" <&"$__lamina_in" >"$__lamina_tmp/event"

    : >"$__lamina_tmp/type"
    # stderr goes through tee: to the log as it comes, and to a file for the error message.
    # A pipeline ends when tee has seen all of it, so the file is complete afterwards.
    (
        trap '__lamina_exit=$?; printf "%s\n%s" "${LAMINA_ERROR_TYPE-}" "${LAMINA_ERROR_MESSAGE-}" >"$__lamina_tmp/type"; exit $__lamina_exit' EXIT
        eval "$__lamina_user_options"
        "$__lamina_function"
    ) <"$__lamina_tmp/event" 2>&1 >"$__lamina_tmp/response" {__lamina_in}<&- {__lamina_out}>&- |
        tee "$__lamina_tmp/stderr" >&2
    __lamina_status=${PIPESTATUS[0]}

    if ((__lamina_status == 0)); then
        printf 'RESPONSE %s %d\n' "$__lamina_id" "$(($(wc -c <"$__lamina_tmp/response")))" >&"$__lamina_out"
        cat "$__lamina_tmp/response" >&"$__lamina_out"
    else
        { IFS= read -r __lamina_type; IFS= read -r -d '' __lamina_message; } <"$__lamina_tmp/type"
        if [[ -z $__lamina_message ]]; then
            __lamina_message="$__lamina_function returned status $__lamina_status"
            __lamina_tail=$(tail -n 10 "$__lamina_tmp/stderr")
            if [[ -n $__lamina_tail ]]; then
                __lamina_message+="; last lines of stderr:"$'\n'"$__lamina_tail"
            fi
        fi
        __lamina_send_error "ERROR $__lamina_id" "${__lamina_type:-HandlerError}" "$__lamina_message"
    fi
done
