#!/usr/bin/env bash
# Runs a cross-built Windows test program in a throwaway Wine prefix with a persistent
# wineserver, so the services it installs and starts live for the whole test.
#   run-wine-tests.sh <test.exe> [test arguments...]
# Exit code: the test program's. Logs stay in <test dir>/wine-logs/.
# Set CERTHEAL_KEEP_WINEPREFIX=1 to keep the prefix for a post-mortem.
set -euo pipefail

test_exe=$(readlink -f "${1:?usage: run-wine-tests.sh <test.exe> [args...]}")
shift
wine=/usr/lib/wine/wine64
wineserver=/usr/lib/wine/wineserver64

log_dir=$(dirname "$test_exe")/wine-logs
mkdir -p "$log_dir" "$(dirname "$test_exe")/wine"
WINEPREFIX=$(mktemp -d "$(dirname "$test_exe")/wine/run.XXXXXX")
export WINEPREFIX
export WINEDEBUG=${WINEDEBUG:--all}
export WINEDLLOVERRIDES=${WINEDLLOVERRIDES:-mscoree,mshtml=}  # no Mono/Gecko install prompts
name=$(basename "$test_exe" .exe)

cleanup() {
    "$wineserver" -k >/dev/null 2>&1 || true
    "$wineserver" -w >/dev/null 2>&1 || true
    if [[ ${CERTHEAL_KEEP_WINEPREFIX:-0} == 1 ]]; then
        echo "run-wine-tests: kept the prefix $WINEPREFIX"
    else
        rm -rf "$WINEPREFIX"
    fi
}
trap cleanup EXIT

# Every output goes to a file, never a pipe: services.exe and the services it starts inherit
# the handles, and a pipe they hold would never close.
#
# First let the new prefix settle completely: `wineboot -i` returns while the prefix set-up
# still runs, and services.exe, fed again during that set-up, drops services created
# meanwhile (seen: CreateServiceW succeeded, OpenServiceW said 1060 a moment later).
# `wineserver -w` waits until the last Wine process of the set-up has ended.
started=$(date +%s)
"$wine" wineboot -i >"$log_dir/wineboot.log" 2>&1 || true
"$wineserver" -w
echo "run-wine-tests: prefix $WINEPREFIX ready in $(( $(date +%s) - started )) s"

# Debian's wineserver exits with the last Wine process and takes the services with it:
# keep one alive for the whole run. services.exe starts again with the first Wine program.
"$wineserver" -p >"$log_dir/wineserver.log" 2>&1

status=0
"$wine" "$test_exe" "$@" >"$log_dir/$name.out" 2>"$log_dir/$name.err" || status=$?
cat "$log_dir/$name.out"
if [[ -s $log_dir/$name.err ]]; then
    echo "--- stderr ($log_dir/$name.err) ---"
    cat "$log_dir/$name.err"
fi
echo "run-wine-tests: $name exited with $status"
exit "$status"
