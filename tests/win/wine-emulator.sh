#!/usr/bin/env bash
# Runs a cross-built .exe under Wine: CMake's CROSSCOMPILING_EMULATOR for the windows-cross
# build (catch_discover_tests listing, ctest). Usage: wine-emulator.sh program.exe [args...]
#
# The Wine prefix is a throwaway one inside the build tree (<build>/wine/prefix, found from
# the CMakeCache.txt above the program), or $CERTHEAL_WINEPREFIX when set.
set -euo pipefail

program=${1:?usage: wine-emulator.sh program.exe [args...]}
wine=/usr/lib/wine/wine64
export WINEDEBUG=${WINEDEBUG:--all}
export WINEDLLOVERRIDES=${WINEDLLOVERRIDES:-mscoree,mshtml=}  # no Mono/Gecko install prompts

if [[ -n ${CERTHEAL_WINEPREFIX:-} ]]; then
    prefix=$CERTHEAL_WINEPREFIX
else
    build_dir=$(cd "$(dirname "$program")" && pwd)
    while [[ $build_dir != / && ! -f $build_dir/CMakeCache.txt ]]; do build_dir=$(dirname "$build_dir"); done
    [[ -f $build_dir/CMakeCache.txt ]] || { echo "wine-emulator: $program is not inside a CMake build tree" >&2; exit 2; }
    prefix=$build_dir/wine/prefix
fi
export WINEPREFIX=$prefix

# Creating a prefix takes ~10 s; ctest may start several tests at once, so only one creates it.
if [[ ! -f $prefix/system.reg ]]; then
    mkdir -p "$(dirname "$prefix")"
    (
        flock 9
        if [[ ! -f $prefix/system.reg ]]; then
            # Redirected to a file, never a pipe: wineboot starts services.exe, which would
            # inherit the pipe and keep ctest waiting.
            "$wine" wineboot -i >"$prefix.wineboot.log" 2>&1 || true
            /usr/lib/wine/wineserver64 -w || true
        fi
    ) 9>"$prefix.lock"
fi

# ctest starts one wine process per test: left alone, the wineserver exits after each and the
# next test may try to connect to it as it shuts down (a rare launch failure with no output, seen
# once in ~600 runs). Keep one server for the prefix, alive 30 s after its last client. It is a
# no-op when one already runs; its output goes nowhere, so it holds no pipe of ctest's open.
/usr/lib/wine/wineserver64 -p30 </dev/null >/dev/null 2>&1 || true

# Catch2 lists test names through the C runtime's text mode: drop the CRs so that
# catch_discover_tests registers "name", not "name\r".
for argument in "$@"; do
    if [[ $argument == --list-test-names-only || $argument == --list-reporters ]]; then
        "$wine" "$@" | tr -d '\r'
        exit "${PIPESTATUS[0]}"
    fi
done
exec "$wine" "$@"
