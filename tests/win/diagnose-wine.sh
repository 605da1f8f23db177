#!/usr/bin/env bash
# `certheal diagnose` against real crypt32 stores and a real registry, under Wine, in a throwaway
# prefix: each case sets the Schannel values and the http.sys SSL bindings with `reg add` (Wine's
# httpapi answers "not found" for every query and its netsh stores nothing, so certheal reads the
# bindings from the registry, as it does on Windows when the API gives nothing) and the stores
# with certheal_certstore_tool, reads each change back independently (`reg query`, crypt32 through
# the tool's `has`), runs certheal.exe diagnose --json and checks the cause it names.
#   diagnose-wine.sh <certheal.exe> <certheal_certstore_tool.exe>
# Logs stay in <certheal.exe dir>/wine-logs/diagnose/ (summary.txt: what diagnose printed per
# case). CERTHEAL_KEEP_WINEPREFIX=1 keeps the prefix.
#
# Wine copies the host's CA bundle (about 150 roots) into LocalMachine\Root: the test CAs are
# throwaway ones that bundle does not hold, the issuer list Schannel would build from Root is never
# sent in these cases (SendTrustedIssuerList is off by default), and the oversized list is built in
# ClientAuthIssuer.
set -euo pipefail

certheal_exe=$(readlink -f "${1:?usage: diagnose-wine.sh <certheal.exe> <certheal_certstore_tool.exe>}")
tool_exe=$(readlink -f "${2:?missing certheal_certstore_tool.exe}")
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/wine-lib.sh"
wine_test_start diagnose "$certheal_exe"
wine_run_numbered=1
summary=$logs/summary.txt
: >"$summary"

# --- the registry, each change read back with `reg query` ------------------------------------------
schannel='HKLM\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL'
tls13_server="$schannel\\Protocols\\TLS 1.3\\Server"
http='HKLM\SYSTEM\CurrentControlSet\Services\HTTP\Parameters'

reg_set() {  # key name type data
    # Once more after a failure: under a full parallel test run Wine's reg.exe was seen to fail
    # now and then (twice in one run); the read-back below still checks what the registry holds.
    run reg-add reg add "$1" /v "$2" /t "$3" /d "$4" /f ||
        { sleep 1; run reg-add-again reg add "$1" /v "$2" /t "$3" /d "$4" /f; } ||
        fail "reg add $1 $2 failed twice (see $last and the reg-add log before it)"
    run reg-query reg query "$1" /v "$2" || true
    if grep -qi "$2" "$last" && grep -qi "$3" "$last"; then :; else fail "reg query does not show $1\\$2 (see $last)"; fi
}
reg_unset() {  # key name
    run reg-delete reg delete "$1" /v "$2" /f || true
    if run reg-query-gone reg query "$1" /v "$2"; then fail "$1\\$2 is still there (see $last)"; fi
}
reg_drop_key() {  # key
    run reg-delete-key reg delete "$1" /f || true
    if run reg-query-key-gone reg query "$1"; then fail "$1 is still there (see $last)"; fi
}

# An http.sys SSL binding as http.sys keeps it in the registry.
binding() {  # table key [flags] [ctl store] [cert check mode]
    local key="$http\\$1\\$2"
    reg_set "$key" SslCertHash REG_BINARY 0123456789ABCDEF0123456789ABCDEF01234567
    reg_set "$key" SslCertStoreName REG_SZ MY
    reg_set "$key" AppId REG_BINARY 4dc3e181e14b4a21b022591c5f8b6f4c
    reg_set "$key" DefaultFlags REG_DWORD "${3:-2}"
    reg_set "$key" DefaultSslCertCheckMode REG_DWORD "${5:-1}"
    if [[ -n ${4:-} ]]; then reg_set "$key" DefaultSslCtlStoreName REG_SZ "$4"; fi
}

# --- the stores, each change read back through crypt32 -----------------------------------------------
store_add() {  # store pem
    run store-add "$tool_exe" add "$1" "$(windows_path "$2")" || fail "could not add $2 to $1 (see $last)"
    run store-has "$tool_exe" has "$1" "$(windows_path "$2")" || fail "crypt32 does not find $2 in $1 (see $last)"
}
store_remove() {  # store pem
    run store-remove "$tool_exe" remove "$1" "$(windows_path "$2")" || fail "could not remove $2 from $1 (see $last)"
    if run store-has-not "$tool_exe" has "$1" "$(windows_path "$2")"; then fail "crypt32 still finds $2 in $1"; fi
}

# --- the PKI ----------------------------------------------------------------------------------------
pki=$work/pki
mkdir -p "$pki"
make_ca() {  # name subject [issuer-name]
    if [[ -z ${3:-} ]]; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "$2" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -keyout "$pki/$1.key" -out "$pki/$1.pem" >>"$logs/openssl.log" 2>&1
    else
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$2" \
            -keyout "$pki/$1.key" -out "$pki/$1.csr" >>"$logs/openssl.log" 2>&1
        printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' >"$pki/$1.ext"
        openssl x509 -req -in "$pki/$1.csr" -CA "$pki/$3.pem" -CAkey "$pki/$3.key" -CAcreateserial -days 30 \
            -extfile "$pki/$1.ext" -out "$pki/$1.pem" >>"$logs/openssl.log" 2>&1
    fi
}
make_client() {  # name subject issuer-name
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "$2" \
        -keyout "$pki/$1.key" -out "$pki/$1.csr" >>"$logs/openssl.log" 2>&1
    printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >"$pki/$1.ext"
    openssl x509 -req -in "$pki/$1.csr" -CA "$pki/$3.pem" -CAkey "$pki/$3.key" -CAcreateserial -days 30 \
        -extfile "$pki/$1.ext" -out "$pki/$1.pem" >>"$logs/openssl.log" 2>&1
}
make_ca root "/O=certheal tests/CN=certheal diagnose root CA"
make_ca partner "/O=certheal tests/CN=certheal diagnose partner CA"
make_client client "/O=certheal tests/CN=certheal diagnose client" root
make_ca root2 "/O=certheal tests/CN=certheal diagnose root CA 2"
make_ca intermediate "/O=certheal tests/CN=certheal diagnose intermediate CA" root2
make_client chained "/O=certheal tests/CN=certheal diagnose chained client" intermediate
make_ca stray "/O=certheal tests/CN=certheal diagnose stray intermediate" root
# Twenty CAs with names of about 1 KB each: an issuer list of about 20 KB.
: >"$pki/big.pem"
long=$(printf 'x%.0s' $(seq 1 56))
for index in $(seq 1 20); do
    subject="/O=certheal tests"
    for unit in $(seq 1 15); do subject+="/OU=$index-$unit-$long"; done
    make_ca "big$index" "$subject/CN=certheal diagnose big CA $index"
    cat "$pki/big$index.pem" >>"$pki/big.pem"
done

write_config() {  # file cert key
    cat >"$1" <<JSON
{
  "service": { "state_dir": "$(json_path "$work/state")", "allow_insecure_config_acl": true },
  "defaults": { "interval": "1s", "timeout": "2s", "failure_threshold": 2 },
  "sites": [ {
      "name": "intranet",
      "url": "https://intranet.certheal.test:8443/health",
      "connect_to": "127.0.0.1",
      "tls": { "client_cert": { "cert_file": "$(json_path "$2")", "key_file": "$(json_path "$3")" } } } ],
  "remediation": { "steps": [ { "run": ["C:\\\\Windows\\\\System32\\\\cmd.exe", "/c", "exit", "0"] } ] }
}
JSON
}
write_config "$work/certheal.json" "$pki/client.pem" "$pki/client.key"
write_config "$work/chained.json" "$pki/chained.pem" "$pki/chained.key"

# --- the prefix ----------------------------------------------------------------------------------------
started=$(date +%s)
wine_prefix_up
# An IIS 8+ host: Wine 8 says Windows 7 (build 7601) by default, where Schannel sent the issuer
# list by default; its Windows 10 (build 18362) has the Server 2012+ defaults (list off, TLS 1.3 off).
run wine-version reg add 'HKCU\Software\Wine' /v Version /t REG_SZ /d win10 /f || fail "could not make the prefix Windows 10"
echo "diagnose-wine: prefix ready in $(( $(date +%s) - started )) s"

sni=intranet.certheal.test:8443

# Back to a host with no Schannel values, one SNI binding for the site (Negotiate Client
# Certificate on, no revocation check), the partner CA in ClientAuthIssuer and nothing of ours
# anywhere else.
reset_host() {
    for name in ClientAuthTrustMode SendTrustedIssuerList SendTrusterIssuerList; do
        run reg-delete reg delete "$schannel" /v "$name" /f || true
    done
    run reg-delete reg delete "$tls13_server" /f || true
    run reg-delete reg delete "$http\\SslBindingInfo" /f || true
    run reg-delete reg delete "$http\\SslSniBindingInfo" /f || true
    for store in Root ClientAuthIssuer CA; do
        for pem in root root2 intermediate stray big; do
            run store-remove "$tool_exe" remove "$store" "$(windows_path "$pki/$pem.pem")" || true
        done
    done
    run store-add "$tool_exe" add ClientAuthIssuer "$(windows_path "$pki/partner.pem")" || fail "could not add the partner CA"
    binding SslSniBindingInfo "$sni"
}

# Runs diagnose --json and checks the cause it names; records what it printed.
diagnose() {  # case-name expected-cause [config] [expected-exit]
    local name=$1 expected=$2 config=${3:-$work/certheal.json} wanted_exit=${4:-} status=0
    run "diagnose-$name" "$certheal_exe" diagnose --json --config "$(windows_path "$config")" || status=$?
    local got
    got=$(python3 - "$last_out" <<'PY'
import json, sys
lines = [l for l in open(sys.argv[1], encoding="utf-8", errors="replace") if l.lstrip().startswith("{")]
if not lines:
    print("no-json\t-\t-\t-")
    sys.exit()
d = json.loads(lines[0])
f = d.get("facts") or {}
b = f.get("binding") or {}
msg = (d.get("findings") or [{}])[0].get("message", "")
print("\t".join([d.get("cause", "?"), d.get("verdict", "?"),
                 "build=%s mode=%s store=%s list=%sB binding=%s:%s" % (f.get("os_build"), f.get("trust_mode"),
                     f.get("binding_store"), (f.get("issuer_list") or {}).get("bytes"), b.get("kind"), b.get("endpoint")),
                 msg]))
PY
)
    local cause verdict facts message
    IFS=$'\t' read -r cause verdict facts message <<<"$got"
    printf '%s\texit %s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$cause" "$verdict" "$facts" "$message" >>"$summary"
    if [[ $cause != "$expected" ]]; then
        fail "$name: diagnose named '$cause', expected '$expected' (see $last)"
        return
    fi
    if [[ -z $wanted_exit ]]; then wanted_exit=$([[ $expected == none_found ]] && echo 0 || echo 1); fi
    if [[ $status != "$wanted_exit" ]]; then
        fail "$name: diagnose exited $status, expected $wanted_exit (see $last)"
        return
    fi
    pass "$name: $cause ($verdict)"
}

# --- trust modes 0, 1, 2 with the issuing root in Root, in ClientAuthIssuer, in both ------------------
for mode in 0 1 2; do
    for placement in root cai both; do
        reset_host
        reg_set "$schannel" ClientAuthTrustMode REG_DWORD "$mode"
        [[ $placement != cai ]] && store_add Root "$pki/root.pem"
        [[ $placement != root ]] && store_add ClientAuthIssuer "$pki/root.pem"
        case "$mode/$placement" in
            0/cai) expected=ca_not_trusted ;;
            1/root | 2/root) expected=issuer_missing_from_binding_store ;;
            *) expected=none_found ;;
        esac
        diagnose "mode$mode-issuer-in-$placement" "$expected"
    done
done

# --- a binding whose store is ClientAuthIssuer ------------------------------------------------------------
reset_host
reg_set "$http\\SslSniBindingInfo\\$sni" DefaultSslCtlStoreName REG_SZ ClientAuthIssuer
store_add Root "$pki/root.pem"
diagnose binding-store-lacks-issuer issuer_missing_from_binding_store
store_add ClientAuthIssuer "$pki/root.pem"
diagnose binding-store-holds-issuer none_found
grep -q '"ctl_store_name":"ClientAuthIssuer"' "$last_out" && pass "diagnose shows the binding's Ctl Store Name" ||
    fail "diagnose --json does not show ctl_store_name ClientAuthIssuer (see $last)"

# --- an intermediate missing ------------------------------------------------------------------------------
reset_host
store_add Root "$pki/root2.pem"
diagnose intermediate-missing intermediate_missing "$work/chained.json"
store_add CA "$pki/intermediate.pem"
diagnose intermediate-added none_found "$work/chained.json"

# --- mode 2 takes an intermediate held in the store of trusted issuers as a trust anchor ----------------
reset_host
reg_set "$schannel" ClientAuthTrustMode REG_DWORD 2
store_add Root "$pki/root2.pem"
store_add ClientAuthIssuer "$pki/intermediate.pem"
diagnose mode2-intermediate-in-cai none_found "$work/chained.json"

# --- a certificate that is not self-signed in the binding's store -------------------------------------------
reset_host
reg_set "$http\\SslSniBindingInfo\\$sni" DefaultSslCtlStoreName REG_SZ ClientAuthIssuer
store_add Root "$pki/root.pem"
store_add ClientAuthIssuer "$pki/root.pem"
store_add ClientAuthIssuer "$pki/stray.pem"
diagnose binding-store-misplaced binding_store_misplaced

# --- a certificate that is not self-signed in Root (KB 2802568) ---------------------------------------------
reset_host
store_add Root "$pki/root.pem"
store_add Root "$pki/intermediate.pem"
diagnose root-store-misplaced root_store_misplaced
store_remove Root "$pki/intermediate.pem"
diagnose root-store-cleaned none_found

# --- a binding that still names a certificate trust list ---------------------------------------------------
reset_host
store_add Root "$pki/root.pem"
reg_set "$http\\SslSniBindingInfo\\$sni" DefaultSslCtlIdentifier REG_SZ "certheal legacy CTL"
diagnose ctl-identifier-leftover ctl_identifier_leftover
grep -q '"ctl_identifier":"certheal legacy CTL"' "$last_out" && pass "diagnose shows the binding's Ctl Identifier" ||
    fail "diagnose --json does not show ctl_identifier (see $last)"

# --- an issuer list over 16 KB ------------------------------------------------------------------------------
reset_host
reg_set "$schannel" SendTrustedIssuerList REG_DWORD 1
store_add Root "$pki/root.pem"
store_add ClientAuthIssuer "$pki/big.pem"
diagnose issuer-list-too-large issuer_list_too_large
reg_set "$schannel" SendTrustedIssuerList REG_DWORD 0
diagnose issuer-list-not-sent none_found

# --- a misspelt Schannel value ------------------------------------------------------------------------------
reset_host
store_add Root "$pki/root.pem"
reg_set "$schannel" SendTrusterIssuerList REG_DWORD 1
diagnose schannel-value-misspelt schannel_value_misspelt
python3 - "$last_out" <<'PY' && pass "diagnose names the value Windows reads" || fail "diagnose --json does not say which value was meant (see $last)"
import json, sys
line = json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][0])
ignored = line["facts"]["ignored_schannel_values"]
assert ignored == [{"name": "SendTrusterIssuerList", "meant": "SendTrustedIssuerList", "why": "its name is misspelt"}], ignored
PY

# --- an IP binding shadowing the SNI binding ----------------------------------------------------------------
reset_host
store_add Root "$pki/root.pem"
binding SslBindingInfo 127.0.0.1:8443 2
diagnose ip-binding-shadows-sni ip_binding_shadows_sni
reg_drop_key "$http\\SslBindingInfo\\127.0.0.1:8443"
binding SslBindingInfo 0.0.0.0:8443 2
diagnose wildcard-ip-binding-does-not-shadow none_found

# --- TLS 1.3 without negotiation ------------------------------------------------------------------------------
reset_host
store_add Root "$pki/root.pem"
reg_set "$tls13_server" Enabled REG_DWORD 1
reg_set "$http\\SslSniBindingInfo\\$sni" DefaultFlags REG_DWORD 0
diagnose tls13-without-negotiation tls13_without_negotiation
reg_set "$http\\SslSniBindingInfo\\$sni" DefaultFlags REG_DWORD 2
diagnose tls13-with-negotiation none_found

# --- the same diagnosis in check-config, status and the fingerprint --------------------------------------------
reset_host
reg_set "$schannel" ClientAuthTrustMode REG_DWORD 2
store_add Root "$pki/root.pem"
diagnose fingerprint-before issuer_missing_from_binding_store
before=$(python3 -c 'import json,sys; print(json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][0])["fingerprint"])' "$last_out")
run check-config "$certheal_exe" check-config --config "$(windows_path "$work/certheal.json")" || true
grep -q "pre-flight: /sites/0: warning: host trust: issuer_missing_from_binding_store" "$last" &&
    pass "check-config's pre-flight names the cause" || fail "check-config does not name the cause (see $last)"
run status "$certheal_exe" status --json --config "$(windows_path "$work/certheal.json")" || true
python3 - "$last_out" "$before" <<'PY' && pass "status --json shows the fingerprint and the cause" || fail "status --json lacks the host trust (see $last)"
import json, sys
report = json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][0])
trust = report["host_trust"]
assert trust["fingerprint"] == sys.argv[2], trust["fingerprint"]
assert trust["sites"][0]["cause"] == "issuer_missing_from_binding_store", trust
PY
# probe --json: nothing listens on the site's port, so the probe fails and the diagnosis runs.
run probe "$certheal_exe" probe --json --config "$(windows_path "$work/certheal.json")" || true
python3 - "$last_out" <<'PY' && pass "probe --json carries the cause of a site that is not healthy" || fail "probe --json has no cause (see $last)"
import json, sys
line = json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][0])
assert line["class"] == "connect_failed", line
assert line["cause"] == "issuer_missing_from_binding_store", line
PY
# The service: the symptom and the repair carry the cause in the journal.
journal=$work/state/journal.jsonl
certheal_run_start "$certheal_exe" "$work/certheal.json"
wait_for_journal_event "$journal" repair_started 60 || true
certheal_run_stop "$journal"
python3 - "$journal" <<'PY' && pass "certheal run's symptom_confirmed and repair_started carry the cause" || fail "the journal lacks the cause (see $logs/journal.jsonl)"
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
for name in ("symptom_confirmed", "repair_started"):
    found = [e for e in events if e["event"] == name]
    assert found, name
    assert found[0]["cause"] == "issuer_missing_from_binding_store", found[0]
    assert found[0]["host_trust"]["trust_mode"] == 2, found[0]
    assert found[0]["host_trust"]["binding_store"] == "ClientAuthIssuer", found[0]
PY
store_add ClientAuthIssuer "$pki/root.pem"
diagnose fingerprint-after none_found
after=$(python3 -c 'import json,sys; print(json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][0])["fingerprint"])' "$last_out")
[[ -n $before && $before != "$after" ]] && pass "the fingerprint changes when ClientAuthIssuer does" ||
    fail "the fingerprint did not change ($before / $after)"

echo "diagnose-wine: what diagnose printed (case, exit code, cause, verdict, facts, first finding):"
cat "$summary"
wine_test_finish
