#!/usr/bin/env bash
# End to end under Wine: certheal.exe `run --console` probes the nginx lab (Linux side, on
# 127.0.0.1), confirms the symptom (nginx's 400 "The SSL certificate error"), repairs it with a `run` step and
# stop_service(with_dependents) / start_service / restore_dependents on Wine lab services,
# verifies the site healthy, and the journal tells the story under one incident id.
#   e2e-wine.sh <certheal.exe> <certheal_lab_service.exe> <certheal_register_lab_services.exe> <source dir>
# Logs stay in <certheal.exe dir>/wine-logs/e2e/. CERTHEAL_KEEP_WINEPREFIX=1 keeps the prefix and lab.
#
# How the `run` step re-syncs the lab: a Windows program under Wine cannot run the Linux lab.sh
# as a step. Wine's CreateProcessW does start a Linux ELF (Z:\bin\sh), but detached: it returns
# success with no process handle and process id 0, so there is no exit code to wait for and no job
# object to hold it, and certheal's runner cannot treat it as a step. So the step is what an admin
# would run on Windows, a Windows command that puts the right CA back in place
# (cmd.exe /c copy good-ca.pem trusted-client-ca.pem), and this script plays the web server's
# part: a bounded polling loop reloads nginx when the trusted CA file has changed (IIS reads its
# trust store on the service restart that the next steps do).
set -euo pipefail

certheal_exe=$(readlink -f "${1:?usage: e2e-wine.sh <certheal.exe> <lab_service.exe> <register_lab_services.exe> <source dir>}")
lab_service_exe=$(readlink -f "${2:?missing certheal_lab_service.exe}")
register_exe=$(readlink -f "${3:?missing certheal_register_lab_services.exe}")
source_dir=$(readlink -f "${4:?missing the source dir}")
lab_sh=$source_dir/tests/lab/lab.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/wine-lib.sh"
wine_test_start e2e "$certheal_exe"
lab_dir=$work/lab
watcher_pid=""
started=$(date +%s)

say() { echo "e2e-wine: [$(( $(date +%s) - started )) s] $*"; }

before_wine_cleanup() {
    [[ -n $watcher_pid ]] && kill "$watcher_pid" 2>/dev/null || true
    "$lab_sh" down "$lab_dir" >/dev/null 2>&1 || true
    cp -r "$lab_dir/logs" "$logs/nginx-logs" 2>/dev/null || true
}

# --- 1. the nginx lab, desynchronised ---------------------------------------------------------------
"$lab_sh" up "$lab_dir" >"$logs/lab-up.log" 2>&1
# shellcheck disable=SC1091
. "$lab_dir/lab.env"
"$lab_sh" desync "$lab_dir" >"$logs/lab-desync.log" 2>&1
say "nginx lab on 127.0.0.1:$port answers 400 The SSL certificate error (desynchronised)"

# The web server's part of the repair: reload nginx once the trusted CA file holds the good CA.
(
    for _ in $(seq 1 1500); do  # 5 minutes at most
        if cmp -s "$lab_dir/trusted-client-ca.pem" "$lab_dir/good-ca.pem"; then
            "$lab_sh" resync "$lab_dir" >"$logs/lab-resync.log" 2>&1
            echo "reloaded nginx at $(date +%T.%N)" >>"$logs/lab-resync.log"
            exit 0
        fi
        sleep 0.2
    done
) &
watcher_pid=$!

# --- 2. a throwaway prefix that stays up (see run-wine-tests.sh) ------------------------------------
wine_prefix_up
say "Wine prefix ready"

# --- 3. the lab services: LabW3SVC and LabFTP depend on LabIISAdmin ----------------------------------
"$wine" "$register_exe" "$lab_service_exe" >"$logs/register.out" 2>"$logs/register.err" || {
    cat "$logs/register.out" "$logs/register.err"
    echo "e2e-wine: FAIL: the lab services could not be registered and started"
    exit 1
}
say "lab services LabIISAdmin, LabW3SVC, LabFTP running"

# --- 4. the config ----------------------------------------------------------------------------------
config_dir=$work/config
state_dir=$work/state
mkdir -p "$config_dir"
cat >"$config_dir/certheal.json" <<JSON
{
  "service": {
    "state_dir": "$(json_path "$state_dir")",
    "allow_insecure_config_acl": true
  },
  "defaults": { "interval": "1s", "timeout": "5s", "failure_threshold": 2, "success_threshold": 1 },
  "sites": [ {
      "name": "intranet",
      "url": "https://localhost:$port/health",
      "connect_to": "127.0.0.1",
      "tls": { "ca_file": "$(json_path "$server_ca")",
               "client_cert": { "cert_file": "$(json_path "$client_cert")", "key_file": "$(json_path "$client_key")" } } } ],
  "remediation": {
    "enabled": true, "cooldown": "10m", "max_attempts": 3, "attempt_window": "1h", "circuit_reset_after": "6h",
    "steps": [
      { "run": ["C:\\\\windows\\\\system32\\\\cmd.exe", "/c", "copy", "/y",
                "$(json_path "$good_ca")", "$(json_path "$trusted_client_ca")"], "timeout": "30s" },
      { "stop_service": "LabIISAdmin", "with_dependents": true, "timeout": "30s" },
      { "start_service": "LabW3SVC", "timeout": "30s" },
      { "restore_dependents": true, "timeout": "30s" },
      { "verify": { "attempts": 5, "delay": "1s" } }
    ]
  }
}
JSON
cp "$config_dir/certheal.json" "$logs/certheal.json"
config_windows=$(windows_path "$config_dir/certheal.json")
# The config ACL check on Z: (allow_insecure_config_acl is set because Z: has no real Windows ACLs).
"$wine" "$certheal_exe" check-config --config "$config_windows" >"$logs/check-config.out" 2>"$logs/check-config.err" || {
    cat "$logs/check-config.out" "$logs/check-config.err"
    echo "e2e-wine: FAIL: certheal check-config rejected the test config"
    exit 1
}

# --- 5. certheal run --console until the site has recovered -----------------------------------------
journal=$state_dir/journal.jsonl
"$wine" "$certheal_exe" run --console --config "$config_windows" >"$logs/run.out" 2>"$logs/run.err" &
certheal_pid=$!
say "certheal.exe run --console started (pid $certheal_pid)"
recovered=0
for _ in $(seq 1 120); do  # 60 s
    if [[ -f $journal ]] && grep -q '"event":"site_recovered"\|"event": "site_recovered"' "$journal"; then
        recovered=1
        break
    fi
    kill -0 "$certheal_pid" 2>/dev/null || break
    sleep 0.5
done
say "site_recovered in the journal: $recovered"

# Ctrl+C: Wine turns SIGINT into a CTRL_C_EVENT for a console program.
stopped_by="SIGINT"
kill -INT "$certheal_pid" 2>/dev/null || true
exit_code=""
for _ in $(seq 1 100); do  # 20 s
    if ! kill -0 "$certheal_pid" 2>/dev/null; then
        exit_code=0
        wait "$certheal_pid" || exit_code=$?
        break
    fi
    sleep 0.2
done
if [[ -z $exit_code ]]; then
    stopped_by="SIGKILL (SIGINT did not stop it within 20 s)"
    kill -KILL "$certheal_pid" 2>/dev/null || true
    wait "$certheal_pid" 2>/dev/null || true
    exit_code=killed
fi
certheal_pid=""
say "certheal stopped by $stopped_by, exit code $exit_code"
[[ -f $journal ]] && cp "$journal" "$logs/journal.jsonl"

# --- 6. what the journal and the SCM say ------------------------------------------------------------
for service in LabIISAdmin LabW3SVC LabFTP; do
    "$wine" sc query "$service" >"$logs/sc-query-$service.out" 2>&1 || true
done

failures=0
python3 - "$logs" "$recovered" "$exit_code" <<'PYTHON' || failures=1
import json, pathlib, re, sys

logs, recovered, exit_code = pathlib.Path(sys.argv[1]), sys.argv[2] == "1", sys.argv[3]
problems = []
journal_file = logs / "journal.jsonl"
records = [json.loads(line) for line in journal_file.read_text().splitlines() if line.strip()] if journal_file.exists() else []
names = [record.get("event") for record in records]
print("e2e-wine: journal:", " ".join(names))

def check(condition, message):
    if not condition:
        problems.append(message)

check(recovered, "the journal never showed site_recovered within 60 s")
check(names.count("symptom_confirmed") == 1, f"expected one symptom_confirmed, got {names.count('symptom_confirmed')}")
check(names.count("repair_started") == 1, f"expected one repair_started, got {names.count('repair_started')}")
check(names.count("repair_succeeded") == 1, f"expected one repair_succeeded, got {names.count('repair_succeeded')}")
check("repair_failed" not in names and "step_failed" not in names, "a step or the repair failed")
check("site_recovered" in names, "no site_recovered")
check(bool(names) and names[0] == "service_started", "the journal does not start with service_started")

symptom = next((r for r in records if r.get("event") == "symptom_confirmed"), {})
incident = symptom.get("incident", "")
check(incident != "", "symptom_confirmed carries no incident id")
check(symptom.get("class") == "client_cert_rejected", f"the symptom class is {symptom.get('class')!r}")
check(symptom.get("status") == 400, f"the symptom status is {symptom.get('status')!r}")

story = [r for r in records if r.get("event") in
         ("symptom_confirmed", "repair_started", "step_succeeded", "repair_succeeded", "site_recovered")]
for record in story:
    check(record.get("incident") == incident,
          f"{record.get('event')} has incident {record.get('incident')!r}, not {incident!r}")

steps = {r.get("step"): r for r in records if r.get("event") == "step_succeeded"}
expected_kinds = {1: "run", 2: "stop_service", 3: "start_service", 4: "restore_dependents", 5: "verify"}
for number, kind in expected_kinds.items():
    step = steps.get(number)
    check(step is not None, f"no step_succeeded for step {number} ({kind})")
    if step is not None:
        check(step.get("kind") == kind, f"step {number} is {step.get('kind')!r}, expected {kind!r}")
stop = steps.get(2, {})
stopped = sorted(name.lower() for name in stop.get("services", []))
check(stopped == ["labftp", "labw3svc"], f"the stop step lists the dependents {stop.get('services')!r}, expected LabW3SVC and LabFTP")
# restore_dependents starts every dependent the stop step stopped, in reverse stop order (LabW3SVC,
# already started by step 3, is a no-op start and is listed too).
restore = steps.get(4, {})
check(restore.get("services") == list(reversed(stop.get("services", []))) and len(restore.get("services", [])) == 2,
      f"restore_dependents started {restore.get('services')!r}, expected the reverse of {stop.get('services')!r}")

order = [names.index(e) for e in ("symptom_confirmed", "repair_started", "repair_succeeded", "site_recovered") if e in names]
check(order == sorted(order), "symptom_confirmed, repair_started, repair_succeeded, site_recovered are out of order")

for service in ("LabIISAdmin", "LabW3SVC", "LabFTP"):
    text = (logs / f"sc-query-{service}.out").read_text(errors="replace")
    check(re.search(r"STATE\s*:\s*4\s+RUNNING", text) is not None, f"{service} is not RUNNING at the end:\n{text}")

if exit_code == "killed":
    print("e2e-wine: NOTE: SIGINT did not stop certheal.exe; it was killed, so there is no service_stopped")
else:
    check(exit_code == "0", f"certheal.exe exited with {exit_code} after Ctrl+C")
    check(bool(names) and names[-1] == "service_stopped", "the journal does not end with service_stopped after Ctrl+C")

for problem in problems:
    print(f"e2e-wine: FAIL: {problem}")
if not problems:
    print(f"e2e-wine: ok: incident {incident}: symptom confirmed, 5 steps succeeded, the site recovered")
sys.exit(1 if problems else 0)
PYTHON

if [[ $failures -ne 0 ]]; then
    for file in run.out run.err register.out lab-resync.log; do
        [[ -s $logs/$file ]] && { echo "--- $file"; tr -d '\r' <"$logs/$file" | tail -40; }
    done
fi
say "done"
exit "$failures"
