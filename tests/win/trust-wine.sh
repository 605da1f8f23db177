#!/usr/bin/env bash
# certheal.exe and the Windows certificate stores, under Wine, in a throwaway prefix:
#  1. `verify: true` without a ca_file trusts LocalMachine\Root: the lab nginx's server CA is
#     unknown until it is added to Root, then the probe is healthy; a self-signed server nobody
#     added stays tls_error.
#  2. A certificate that is not self-signed in LocalMachine\Root (KB 2802568) is named by
#     check-config's pre-flight and by `certheal status`, and by the root_store_misplaced event of
#     `certheal run`; a clean Root is named by none of them.
#   trust-wine.sh <certheal.exe> <certheal_certstore_tool.exe> <source dir>
# Logs stay in <certheal.exe dir>/wine-logs/trust/. CERTHEAL_KEEP_WINEPREFIX=1 keeps the prefix.
set -euo pipefail

certheal_exe=$(readlink -f "${1:?usage: trust-wine.sh <certheal.exe> <certheal_certstore_tool.exe> <source dir>}")
tool_exe=$(readlink -f "${2:?missing certheal_certstore_tool.exe}")
source_dir=$(readlink -f "${3:?missing the source dir}")
lab_sh=$source_dir/tests/lab/lab.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/wine-lib.sh"
wine_test_start trust "$certheal_exe"
lab_dir=$work/lab
s_server_pid=""

before_wine_cleanup() {
    [[ -n $s_server_pid ]] && kill "$s_server_pid" 2>/dev/null || true
    "$lab_sh" down "$lab_dir" >/dev/null 2>&1 || true
}

probe_class() {  # name config -> the class of the probe's only site
    run "$1" "$certheal_exe" probe --json --config "$(windows_path "$2")" || true
    python3 -c 'import json, sys
lines = [line for line in open(sys.argv[1]) if line.startswith("{")]
print(json.loads(lines[0])["class"] if lines else "no-json")' "$logs/$1.out"
}

write_config() {  # file url [extra service settings]
    cat >"$1" <<JSON
{
  "service": { "state_dir": "$(json_path "$work/state")", "allow_insecure_config_acl": true },
  "defaults": { "interval": "1s", "timeout": "5s" },
  "sites": [ {
      "name": "intranet",
      "url": "$2",
      "connect_to": "127.0.0.1",
      "tls": { "client_cert": { "cert_file": "$(json_path "$client_cert")", "key_file": "$(json_path "$client_key")" } } } ]
}
JSON
}

"$lab_sh" up "$lab_dir" >"$logs/lab-up.log" 2>&1
# shellcheck disable=SC1091
. "$lab_dir/lab.env"

# A self-signed server certificate for localhost that nobody adds to any store.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost" -keyout "$work/self.key" -out "$work/self.pem" 2>/dev/null
self_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
openssl s_server -accept "127.0.0.1:$self_port" -cert "$work/self.pem" -key "$work/self.key" -www -quiet \
    </dev/null >"$logs/s_server.log" 2>&1 &
s_server_pid=$!

wine_prefix_up
echo "trust-wine: Wine prefix ready, nginx lab on 127.0.0.1:$port, self-signed s_server on $self_port"

write_config "$work/lab.json" "https://localhost:$port/health"
write_config "$work/self.json" "https://localhost:$self_port/"

# --- 1. the Windows trust store verifies server certificates --------------------------------
got=$(probe_class probe-before "$work/lab.json")
[[ $got == tls_error ]] && pass "the lab's server CA is not trusted before it is in Root (tls_error)" ||
    fail "before the server CA is in Root the probe is '$got', expected tls_error (see $logs/probe-before.txt)"

run add-server-ca "$tool_exe" add Root "$(windows_path "$server_ca")" ||
    fail "certheal_certstore_tool could not add the server CA to Root (see $logs/add-server-ca.txt)"
got=$(probe_class probe-after "$work/lab.json")
[[ $got == healthy ]] && pass "with the server CA in LocalMachine\\Root the probe is healthy" ||
    fail "with the server CA in Root the probe is '$got', expected healthy (see $logs/probe-after.txt)"

got=$(probe_class probe-self-signed "$work/self.json")
[[ $got == tls_error ]] && pass "a self-signed server that is in no store stays tls_error" ||
    fail "the self-signed server probed '$got', expected tls_error (see $logs/probe-self-signed.txt)"

# --- 2. a certificate that is not self-signed in Root ------------------------------------------
run check-clean "$certheal_exe" check-config --config "$(windows_path "$work/lab.json")" ||
    fail "check-config rejected the test config (see $logs/check-clean.txt)"
if grep -q "not self-signed" "$logs/check-clean.txt"; then
    fail "check-config names a misplaced certificate in a clean Root (see $logs/check-clean.txt)"
else
    pass "check-config says nothing about a clean Root"
fi

# The lab's client certificate, issued by the good CA, imported into Root by mistake.
run add-misplaced "$tool_exe" add Root "$(windows_path "$client_cert")" ||
    fail "certheal_certstore_tool could not add the client certificate to Root (see $logs/add-misplaced.txt)"
run check-misplaced "$certheal_exe" check-config --config "$(windows_path "$work/lab.json")" || true
if grep -q "pre-flight: (host): warning: LocalMachine\\\\Root holds CN=certheal lab client (issued by CN=certheal lab good client CA" \
    "$logs/check-misplaced.txt" && grep -q "fix_root_store" "$logs/check-misplaced.txt"; then
    pass "check-config names the misplaced certificate, its effect and the fix"
else
    fail "check-config did not name the misplaced certificate (see $logs/check-misplaced.txt)"
fi
run status-misplaced "$certheal_exe" status --json --config "$(windows_path "$work/lab.json")" || true
if grep -q "CN=certheal lab client" "$logs/status-misplaced.txt"; then
    pass "certheal status names the misplaced certificate"
else
    fail "certheal status did not name the misplaced certificate (see $logs/status-misplaced.txt)"
fi

journal=$work/state/journal.jsonl
certheal_run_start "$certheal_exe" "$work/lab.json"
wait_for_journal_event "$journal" root_store_misplaced 30 || true
certheal_run_stop "$journal"
misplaced_events=$(grep -c '"event":"root_store_misplaced"' "$journal" 2>/dev/null || true)
if [[ $misplaced_events == 1 ]] && grep '"event":"root_store_misplaced"' "$journal" | grep -q '"subject":"CN=certheal lab client"'; then
    pass "certheal run wrote one root_store_misplaced event naming the certificate"
else
    fail "expected one root_store_misplaced event for CN=certheal lab client, got ${misplaced_events:-0} (see $logs/journal.jsonl)"
fi

wine_test_finish
