#!/usr/bin/env bash
# Keeps the folders named below readable in one sitting: no source file over 500 lines and no
# function over 80 (functions as universal-ctags finds them, lambdas included);
# docs/architecture.md says why the limits exist.
#   size_check.sh <source dir> <folder>...
set -euo pipefail
cd "${1:?usage: size_check.sh <source dir> <folder>...}"
shift
(($#)) || { echo "size: name at least one folder"; exit 2; }
scope="$*"
command -v ctags >/dev/null || { echo "size: needs universal-ctags (scripts/setup installs it)"; exit 1; }

readonly max_file_lines=500 max_function_lines=80
problems=0

mapfile -t files < <(find "$@" -type f \( -name '*.cpp' -o -name '*.hpp' \) -print | sort)
((${#files[@]})) || { echo "size: no C++ files under $*"; exit 1; }

for file in "${files[@]}"; do
    lines=$(wc -l <"$file")
    if ((lines > max_file_lines)); then
        echo "size: $file has $lines lines (at most $max_file_lines); split it by what its parts do"
        problems=$((problems + 1))
    fi
done

while read -r start end name file; do
    length=$((end - start + 1))
    if ((length > max_function_lines)); then
        echo "size: $file:$start $name has $length lines (at most $max_function_lines); give its steps names"
        problems=$((problems + 1))
    fi
done < <(ctags -x --_xformat='%{line} %{end} %{name} %{input}' --kinds-c++=f --fields=+ne --extras=-q \
             --language-force=c++ -o - "${files[@]}")

if ((problems)); then
    echo "size: $problems file(s) or function(s) over the limits in $scope"
    exit 1
fi
echo "size: every file in $scope is at most $max_file_lines lines and every function at most $max_function_lines"
