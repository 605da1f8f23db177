# shellcheck shell=bash
# Sourced (never run) by the Wine test scripts of this folder: one throwaway prefix with its logs,
# ok/FAIL lines that count failures, and Wine programs run with their output in files.
#
#   source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/wine-lib.sh"
#   wine_test_start NAME EXE [LABEL]  # logs in <EXE dir>/wine-logs/NAME/, lines start "LABEL:"
#                                     # (LABEL is NAME-wine unless given)
#   wine_prefix_up             # wineboot, then a persistent wineserver
#   ...
#   wine_test_finish           # the summary line; exit 1 when a check failed
#
# A script with more to stop at exit (servers, a lab) defines before_wine_cleanup. A running
# certheal.exe whose pid is in $certheal_pid is killed. CERTHEAL_KEEP_WINEPREFIX=1 keeps the prefix.

wine=/usr/lib/wine/wine64
wineserver=/usr/lib/wine/wineserver64

wine_test_start() {  # name exe [label]
    wine_test_label=${3:-$1-wine}
    logs=$(dirname "$2")/wine-logs/$1
    rm -rf "$logs"
    mkdir -p "$logs"
    work=$(mktemp -d "/tmp/certheal-wine-$1.XXXXXX")
    chmod 755 "$work"
    export WINEPREFIX=$work/prefix
    export WINEDEBUG=${WINEDEBUG:--all}
    export WINEDLLOVERRIDES=${WINEDLLOVERRIDES:-mscoree,mshtml=}  # no Mono/Gecko install prompts
    failures=0
    certheal_pid=""
    step=0
    wine_run_numbered=0
    trap wine_test_cleanup EXIT
}

wine_test_cleanup() {
    if declare -F before_wine_cleanup >/dev/null; then before_wine_cleanup || true; fi
    [[ -n $certheal_pid ]] && kill -KILL "$certheal_pid" 2>/dev/null || true
    "$wineserver" -k >/dev/null 2>&1 || true
    "$wineserver" -w >/dev/null 2>&1 || true
    if [[ ${CERTHEAL_KEEP_WINEPREFIX:-0} == 1 ]]; then
        echo "$wine_test_label: kept $work"
    else
        rm -rf "$work"
    fi
}

fail() {
    echo "$wine_test_label: FAIL: $*"
    failures=$((failures + 1))
}
pass() { echo "$wine_test_label: ok: $*"; }

# Z:\... for a Linux path (what Wine shows for /), and the same escaped for a JSON string.
windows_path() { local path=$1; echo "Z:${path//\//\\}"; }
json_path() { windows_path "$1" | sed 's/\\/\\\\/g'; }

# A Wine program with its output in files (never a pipe: a persistent wineserver's services would
# inherit it); the output without CRs is left in $logs/<name>.txt ($last; stdout alone in
# $last_out). With wine_run_numbered=1 the logs are numbered in the order of the runs
# ($logs/001-<name>.txt), for scripts that run the same name many times.
run() {  # name program arguments...
    local name=$1 status=0
    shift
    if ((wine_run_numbered)); then
        step=$((step + 1))
        name=$(printf '%03d-%s' "$step" "$name")
    fi
    "$wine" "$@" >"$logs/$name.out" 2>"$logs/$name.err" || status=$?
    tr -d '\r' <"$logs/$name.out" >"$logs/$name.txt"
    tr -d '\r' <"$logs/$name.err" >>"$logs/$name.txt"
    # shellcheck disable=SC2034  # read by the scripts that source this file
    last=$logs/$name.txt
    # shellcheck disable=SC2034
    last_out=$logs/$name.out
    return $status
}

# A new prefix, settled, and a wineserver that stays for the whole script (so each Wine program
# does not start and stop one of its own).
wine_prefix_up() {
    "$wine" wineboot -i >"$logs/wineboot.log" 2>&1 || true
    "$wineserver" -w
    "$wineserver" -p >"$logs/wineserver.log" 2>&1
}

# certheal.exe `run --console` in the background ($certheal_pid), its output in $logs/run.out and
# run.err.
certheal_run_start() {  # certheal.exe config(Linux path)
    "$wine" "$1" run --console --config "$(windows_path "$2")" >"$logs/run.out" 2>"$logs/run.err" &
    certheal_pid=$!
}

# Until the journal holds the event, certheal has ended, or the seconds have passed.
wait_for_journal_event() {  # journal event seconds
    local _
    for _ in $(seq 1 $(($3 * 2))); do
        [[ -f $1 ]] && grep -q "\"event\":\"$2\"" "$1" && return 0
        kill -0 "$certheal_pid" 2>/dev/null || return 1
        sleep 0.5
    done
    return 1
}

# Ctrl+C (Wine makes it a CTRL_C_EVENT), 20 s to end, then SIGKILL; the journal copied to $logs.
certheal_run_stop() {  # journal
    local _
    kill -INT "$certheal_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$certheal_pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -KILL "$certheal_pid" 2>/dev/null || true
    wait "$certheal_pid" 2>/dev/null || true
    certheal_pid=""
    if [[ -f $1 ]]; then cp "$1" "$logs/journal.jsonl"; fi
}

wine_test_finish() {
    if ((failures)); then
        echo "$wine_test_label: $failures check(s) failed; logs in $logs"
        exit 1
    fi
    echo "$wine_test_label: all checks passed"
}
