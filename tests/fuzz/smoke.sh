#!/usr/bin/env bash
# One fuzz smoke test (CTest label `fuzz`, see CMakeLists.txt):
#   1. replays every former crash in REGRESSIONS, each in a process of its own so that every
#      failing file is named (a fixed defect must stay fixed);
#   2. fuzzes for SECONDS over a COPY of the seed corpus in WORK (never the source tree). Nothing
#      is skipped: any crash, hang, UB or escaping exception fails the test.
# usage: smoke.sh HARNESS SEEDS REGRESSIONS WORK SECONDS [libFuzzer options...]
set -euo pipefail
harness=$1 seeds=$2 regressions=$3 work=$4 seconds=$5
shift 5
# The harness reports through these; a report must abort the run with its stack.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# -timeout: one input over 10 s fails the run. That must be a defect a replay shows again, never
# a busy machine: each harness bounds the work of one input far below it (the classifier's
# pattern search at ~0.1 s at the very worst, tests/fuzz/README.md), so an input that trips it
# is slow by construction and becomes a regression.
limits=(-rss_limit_mb=2048 -timeout=10 -print_funcs=0)

rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
cp -R "$seeds/." "$work/corpus/"

failed=()
if [[ -d "$regressions" ]]; then
  while IFS= read -r -d '' former; do
    echo "== replaying the former crash $former"
    # Without the fuzzing options: libFuzzer cuts a replayed file to -max_len, and a former
    # crash may need all of its bytes.
    if ! "$harness" "${limits[@]}" -artifact_prefix="$work/artifacts/replay-" "$former" </dev/null; then
      failed+=("$former")
    fi
  done < <(find "$regressions" -type f ! -name '.*' ! -name '*.md' -print0 | sort -z)
fi
if ((${#failed[@]})); then
  echo "FAILED: these former crashes crash again:" >&2
  printf '  %s\n' "${failed[@]}" >&2
  exit 1
fi

echo "== fuzzing $(basename "$harness") for ${seconds}s over a copy of $seeds"
status=0
"$harness" "$work/corpus" -max_total_time="$seconds" "${limits[@]}" \
  -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$@" </dev/null || status=$?
if ((status != 0)); then
  echo "FAILED: $(basename "$harness") exited with $status; what it found:" >&2
  find "$work/artifacts" -type f -printf '  %p\n' >&2
  echo "Reproduce with: $harness <file>; fix it and add the file to tests/fuzz/regressions/." >&2
  exit 1
fi
