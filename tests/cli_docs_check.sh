#!/usr/bin/env bash
# The man page and the bash completion against the command line itself: the commands and
# options come from `certheal --help` and `certheal <command> --help`, which print the CLI's own
# table (service/cli.cpp), so neither file can drift from it unnoticed.
#   cli_docs_check.sh <certheal binary> <source dir> [<build dir>]
# 1. docs/certheal.1 renders with groff without a warning, has a subsection per command, and
#    names each of the command's options in it;
# 2. installer/certheal.bash-completion, sourced in a bare bash, completes exactly the commands,
#    and per command exactly its options (plus --help);
# 3. with a build dir: `cmake --install` puts both where man and bash-completion look.
set -euo pipefail

certheal=${1:?usage: cli_docs_check.sh <certheal binary> <source dir>}
source_dir=${2:?usage: cli_docs_check.sh <certheal binary> <source dir>}
man_page=$source_dir/docs/certheal.1
completion=$source_dir/installer/certheal.bash-completion
failures=0
fail() {
    echo "cli-docs: FAIL: $*"
    failures=$((failures + 1))
}

# --- what the CLI says ---------------------------------------------------------------------------
mapfile -t commands < <("$certheal" --help | awk '/^commands:/ {on=1; next} on && /^  [a-z]/ {print $1} /^$/ {on=0}')
[[ ${#commands[@]} -ge 5 ]] || { echo "cli-docs: certheal --help lists no commands"; exit 1; }
options_of() {  # the options `certheal <command> --help` lists
    "$certheal" "$1" --help | awk '/^options:/ {on=1; next} on && /^  --/ {print $1} /^$/ {on=0}'
}

# --- 1. the man page -----------------------------------------------------------------------------
warnings=$(groff -man -Tutf8 -ww -z "$man_page" 2>&1 || true)
[[ -z $warnings ]] && echo "cli-docs: ok: groff renders certheal.1 without warnings" ||
    fail "groff warns about certheal.1: $warnings"
rendered=$(groff -man -Tutf8 -P-cbou "$man_page" 2>/dev/null)
if command -v man >/dev/null; then
    # As an admin reads it: man-db's own pipeline.
    MANWIDTH=80 LC_ALL=C.UTF-8 man -l "$man_page" >/dev/null 2>&1 || fail "man -l docs/certheal.1 fails"
fi
# One subsection per command: "   <command> [options]" at the subsection indent; its text runs
# to the next subsection or section.
section_of() {
    awk -v command="$1" '
        /^   [a-z]/ { on = ($1 == command) }
        /^[A-Z]/ { on = 0 }
        on { print }' <<<"$rendered"
}
for command in "${commands[@]}"; do
    section=$(section_of "$command")
    if [[ -z $section ]]; then
        fail "certheal.1 has no subsection for the command $command"
        continue
    fi
    while read -r option; do
        [[ $option == --help ]] && continue
        grep -q -- "^ *$option\b" <<<"$section" ||
            fail "certheal.1 does not describe $option under $command"
    done < <(options_of "$command")
done
# And no command the CLI does not have.
while read -r heading; do
    printf '%s\n' "${commands[@]}" | grep -qx -- "$heading" || fail "certheal.1 describes '$heading', which certheal does not have"
done < <(awk '/^COMMANDS/ {on=1; next} /^[A-Z]/ {on=0} on && /^   [a-z]/ {print $1}' <<<"$rendered")
[[ $failures -eq 0 ]] && echo "cli-docs: ok: certheal.1 describes the ${#commands[@]} commands and each of their options"

# --- 2. the bash completion ----------------------------------------------------------------------
complete_words() {  # words...: what the completion offers after them (the last may be partial)
    bash --norc --noprofile -c '
        source "$1"; shift
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
        _certheal
        printf "%s\n" "${COMPREPLY[@]}" | sort' _ "$completion" "$@"
}
before=$failures
expected=$(printf '%s\n' "${commands[@]}" --help --version | sort)
offered=$(complete_words certheal "")
[[ $offered == "$expected" ]] || fail "the completion offers the commands: $(echo $offered); certheal has: $(echo $expected)"
for command in "${commands[@]}"; do
    expected=$( (options_of "$command"; echo --help) | sort -u)
    offered=$(complete_words certheal "$command" "")
    [[ $offered == "$expected" ]] ||
        fail "the completion offers for $command: $(echo $offered); certheal $command has: $(echo $expected)"
done
[[ $(complete_words certheal history --si) == $'--since\n--site' ]] || fail "the completion does not complete --si to --since and --site"
[[ $failures -eq $before ]] && echo "cli-docs: ok: the bash completion offers every command and, per command, exactly its options"

# --- 3. cmake --install --------------------------------------------------------------------------
if [[ -n ${3:-} ]]; then
    prefix=$(mktemp -d)
    trap 'rm -rf "$prefix"' EXIT
    cmake --install "$3" --prefix "$prefix" >"$prefix.log" 2>&1 || fail "cmake --install failed: $(cat "$prefix.log")"
    rm -f "$prefix.log"
    cmp -s "$prefix/share/man/man1/certheal.1" "$man_page" || fail "cmake --install puts no certheal.1 in share/man/man1"
    cmp -s "$prefix/share/bash-completion/completions/certheal" "$completion" ||
        fail "cmake --install puts no completion in share/bash-completion/completions/certheal"
    [[ -x $prefix/bin/certheal ]] || fail "cmake --install puts no bin/certheal"
    MANPATH=$prefix/share/man man -w certheal >/dev/null 2>&1 || fail "man does not find the installed certheal.1"
    [[ $failures -eq 0 ]] && echo "cli-docs: ok: cmake --install puts certheal.1 and the completion where man and bash look"
fi

[[ $failures -eq 0 ]] && echo "cli-docs: all checks passed" || echo "cli-docs: $failures failure(s)"
exit $((failures > 0))
