#!/usr/bin/env bash
# The dependency arrows of docs/architecture.md, checked on the includes:
#   core/    includes only core/ (and never <windows.h>, never #ifdef _WIN32); inside core/ the
#            parts go one way: base <- model <- describe <- probe <- repair <- policy <- record, and
#            runtime (the production clock and worker pool) sees only base and model
#   config/  includes only config/ and core/
#   service/posix/ never includes service/win/, and the other way round
#   service/cli.hpp (the command line) is included only by service/main.cpp and service/cli.cpp
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

# What each part of core/ may include besides itself.
declare -A core_may_include=(
    [base]="base"
    [model]="base model"
    [describe]="base model describe"
    [probe]="base model describe probe"
    [repair]="base model describe probe repair"
    [policy]="base model describe probe repair policy"
    [record]="base model describe probe repair policy record"
    [runtime]="base model runtime"
)

while IFS= read -r file; do
    report "core/ holds its code in its parts (${!core_may_include[*]}), not at its top: $file"
done < <(find core -maxdepth 1 -type f -name '*.[ch]pp')

for part in $(find core -mindepth 1 -maxdepth 1 -type d -printf '%f\n'); do
    allowed=${core_may_include[$part]:-}
    if [[ -z $allowed ]]; then
        report "core/$part is not a part docs/architecture.md names; add it to the picture and here"
        continue
    fi
    pattern=$(sed 's/ /|/g' <<<"$allowed")
    while IFS= read -r line; do
        report "core/$part may include only core/{${allowed// /,}}: $line"
    done < <(grep -rn '#include "' "core/$part" | grep -vE "#include \"core/($pattern)/" || true)
done

while IFS= read -r line; do
    report "core/ is portable, no platform header or platform #ifdef: $line"
done < <(grep -rnE '#include <windows\.h>|#include <unistd\.h>|#include <sys/|#if(def)? .*_WIN32|defined\(_WIN32\)' core || true)

while IFS= read -r line; do
    report "config/ must include only config/ and core/: $line"
done < <(grep -rn '#include "' config --include=*.hpp --include=*.cpp | grep -vE '#include "(config|core)/' || true)

while IFS= read -r line; do
    report "config/ is portable, no platform header or platform #ifdef: $line"
done < <(grep -rnE '#include <windows\.h>|#if(def)? .*_WIN32|defined\(_WIN32\)' config --include=*.hpp --include=*.cpp || true)

while IFS= read -r line; do
    report "the POSIX adapters must not include the Windows ones: $line"
done < <(grep -rn '#include "service/win/' service/posix || true)

while IFS= read -r line; do
    report "the Windows adapters must not include the POSIX ones: $line"
done < <(grep -rn '#include "service/posix/' service/win || true)

# The command line is a leaf: the composition root (run, daemon, ports) and the commands take
# ExitCode and Options from their own headers, so nothing but main.cpp and cli.cpp sees it.
while IFS= read -r line; do
    report "only service/main.cpp and service/cli.cpp include service/cli.hpp (exit_code.hpp, options.hpp for the rest): $line"
done < <(grep -rn '#include "service/cli.hpp"' service | grep -vE '^service/(main|cli)\.cpp:' || true)

if ((problems)); then
    echo "architecture: $problems include(s) against the arrows; see docs/architecture.md"
    exit 1
fi
echo "architecture: every include follows base <- model <- describe <- probe <- repair <- policy <- record (runtime: base, model) in core, and core <- config <- service"
