#!/usr/bin/env bash
# The dependency arrows of docs/architecture.md, checked on the includes:
#   core/    includes only core/ (and never <windows.h>, never #ifdef _WIN32)
#   config/  includes only config/ and core/
#   service/posix/ never includes service/win/, and the other way round
# CMake builds one library per folder (certheal_core, certheal_config, certheal_app), so a call
# against the arrows fails to link; this catches the header-only ones too.
#   architecture_check.sh <source dir>
set -euo pipefail
cd "${1:?usage: architecture_check.sh <source dir>}"

problems=0
report() {
    echo "architecture: $*"
    problems=$((problems + 1))
}

while IFS= read -r line; do
    report "core/ must include only core/: $line"
done < <(grep -n '#include "' core/*.hpp core/*.cpp | grep -v '#include "core/' || true)

while IFS= read -r line; do
    report "core/ is portable, no platform header or platform #ifdef: $line"
done < <(grep -nE '#include <windows\.h>|#include <unistd\.h>|#include <sys/|#if(def)? .*_WIN32|defined\(_WIN32\)' core/*.hpp core/*.cpp || true)

while IFS= read -r line; do
    report "config/ must include only config/ and core/: $line"
done < <(grep -n '#include "' config/*.hpp config/*.cpp | grep -vE '#include "(config|core)/' || true)

while IFS= read -r line; do
    report "config/ is portable, no platform header or platform #ifdef: $line"
done < <(grep -nE '#include <windows\.h>|#if(def)? .*_WIN32|defined\(_WIN32\)' config/*.hpp config/*.cpp || true)

while IFS= read -r line; do
    report "the POSIX adapters must not include the Windows ones: $line"
done < <(grep -n '#include "service/win/' service/posix/* || true)

while IFS= read -r line; do
    report "the Windows adapters must not include the POSIX ones: $line"
done < <(grep -n '#include "service/posix/' service/win/* || true)

if ((problems)); then
    echo "architecture: $problems include(s) against the arrows; see docs/architecture.md"
    exit 1
fi
echo "architecture: every include follows core <- config <- service"
