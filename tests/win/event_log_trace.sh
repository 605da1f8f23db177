#!/usr/bin/env bash
# Checks what EventLogSink really passes to ReportEventW, from Wine's trace of its stub:
#   fixme:advapi:ReportEventW (handle,<type>,<category>,<event id>,<sid>,<string count>,...)
#   <class>:eventlog:ReportEventW L"<string>"   (one line per insertion string; the class is
#                                               err, warn or trace for an error, warning or
#                                               information event)
# The test case "[.eventlog-trace]" prints one "expect <type>,<category>,<id>, <message>" line
# per event; every one must appear in the trace with 4 strings, and its message as a string.
#   event_log_trace.sh <certheal_wine_tests.exe>
set -euo pipefail
test_exe=$(readlink -f "${1:?usage: event_log_trace.sh <certheal_wine_tests.exe>}")
here=$(cd "$(dirname "$0")" && pwd)
out=$(dirname "$test_exe")/wine-logs/event_log_trace.out
mkdir -p "$(dirname "$out")"

WINEDEBUG=fixme+advapi,+eventlog "$here/run-wine-tests.sh" "$test_exe" "[.eventlog-trace]" >"$out" 2>&1
tr -d '\r' <"$out" >"$out.lf"

expectations=$(grep '^expect ' "$out.lf" || true)
count=$(printf '%s\n' "$expectations" | grep -c '^expect ' || true)
if [[ $count -lt 17 ]]; then
    echo "event_log_trace: expected 17 events from the test, got $count (see $out)"
    exit 1
fi
failures=0
while read -r _ arguments message; do
    if ! grep -q "ReportEventW ([0-9A-Fa-f]*,${arguments}0000000000000000,0x0004," "$out.lf"; then
        echo "event_log_trace: no ReportEventW call with (type, category, id) = ${arguments%,} and 4 strings"
        failures=$((failures + 1))
    fi
    case ${arguments%%,*} in
        0x0001) class=err ;;
        0x0002) class=warn ;;
        *) class=trace ;;
    esac
    if ! grep -q ":$class:eventlog:ReportEventW L\"$message\"" "$out.lf"; then
        echo "event_log_trace: the insertion string \"$message\" did not reach ReportEventW as a $class event"
        failures=$((failures + 1))
    fi
done <<<"$expectations"
if [[ $failures -ne 0 ]]; then
    echo "event_log_trace: $failures problem(s); trace in $out"
    exit 1
fi
echo "event_log_trace: all $count events reached ReportEventW with their full ID, type and 4 strings"
