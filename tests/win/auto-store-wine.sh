#!/usr/bin/env bash
# trust_ca with "store": "auto" under Wine, in a throwaway prefix: `certheal repair` puts the CA
# into the store Schannel trusts for the site's binding, as certheal diagnose reads the host
# (ClientAuthTrustMode under the SCHANNEL key, the http.sys SSL binding kept in the registry,
# crypt32's LocalMachine stores), and the step's event and journal line name the store and why:
#  1. ClientAuthTrustMode 2 (exclusive CA trust), ClientAuthIssuer holding another CA, no Ctl
#     Store on the binding: ClientAuthIssuer, and Root is left alone;
#  2. the same with the binding's Ctl Store Name PartnerCAs, which holds a CA: PartnerCAs;
#  3. ClientAuthTrustMode 0 (machine trust), ClientAuthIssuer empty: Root;
#  4. machine trust and a chain file: the root into Root, its intermediate into CA.
# Every store is read back with crypt32 in another process (certheal_certstore_tool has). Nothing
# listens on the site's address: the repair's closing probe fails, which is not what is tested.
#   auto-store-wine.sh <certheal.exe> <certheal_certstore_tool.exe>
# Logs stay in <certheal.exe dir>/wine-logs/auto-store/. CERTHEAL_KEEP_WINEPREFIX=1 keeps the prefix.
set -euo pipefail

certheal_exe=$(readlink -f "${1:?usage: auto-store-wine.sh <certheal.exe> <certheal_certstore_tool.exe>}")
tool_exe=$(readlink -f "${2:?missing certheal_certstore_tool.exe}")
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/wine-lib.sh"
wine_test_start auto-store "$certheal_exe"
wine_run_numbered=1

schannel='HKLM\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL'
http='HKLM\SYSTEM\CurrentControlSet\Services\HTTP\Parameters'
sni=intranet.certheal.test:8443

reg_set() {  # key name type data, read back with reg query
    run reg-add reg add "$1" /v "$2" /t "$3" /d "$4" /f || fail "reg add $1 $2 failed (see $last)"
    run reg-query reg query "$1" /v "$2" || true
    grep -qi "$2" "$last" && grep -qi "$3" "$last" || fail "reg query does not show $1\\$2 (see $last)"
}
has() { run store-has "$tool_exe" has "$1" "$(windows_path "$2")"; }  # store pem: crypt32 finds it
store_add() {  # store pem
    run store-add "$tool_exe" add "$1" "$(windows_path "$2")" || fail "could not add $2 to $1 (see $last)"
    has "$1" "$2" || fail "crypt32 does not find $2 in $1 (see $last)"
}

# --- the PKI: throwaway CAs that Wine's copy of the host's CA bundle does not hold ----------------
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
make_ca root "/O=certheal tests/CN=certheal auto-store root CA"
make_ca partner "/O=certheal tests/CN=certheal auto-store partner CA"
make_ca root2 "/O=certheal tests/CN=certheal auto-store root CA 2"
make_ca intermediate "/O=certheal tests/CN=certheal auto-store intermediate CA" root2
cat "$pki/root2.pem" "$pki/intermediate.pem" >"$pki/chain.pem"

write_config() {  # name certificate-file -> $work/<name>.json, its own state folder
    cat >"$work/$1.json" <<JSON
{
  "service": { "state_dir": "$(json_path "$work/state-$1")", "allow_insecure_config_acl": true },
  "defaults": { "interval": "30s", "timeout": "2s" },
  "sites": [ {
      "name": "intranet",
      "url": "https://$sni/health",
      "connect_to": "127.0.0.1" } ],
  "remediation": { "steps": [ { "trust_ca": { "certificate": "$(json_path "$2")", "store": "auto" } } ] }
}
JSON
}

# Runs certheal repair for the case and leaves its step_succeeded journal line's outcome (what
# the step did and why, a field beside the short sentence) and placements (store per
# certificate) in $logs/<case>-step.txt.
repair() {  # case
    run "repair-$1" "$certheal_exe" repair --site intranet --config "$(windows_path "$work/$1.json")" || true
    local journal=$work/state-$1/journal.jsonl
    [[ -f $journal ]] && cp "$journal" "$logs/$1-journal.jsonl"
    python3 - "$journal" >"$logs/$1-step.txt" <<'PY'
import json, sys
try:
    lines = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
except OSError:
    lines = []
steps = [l for l in lines if l.get("event") in ("step_succeeded", "step_failed")]
if not steps:
    print("no step event")
    sys.exit()
s = steps[-1]
print(s["event"])
print(s.get("outcome", ""))
for choice in s.get("choices", []):
    for p in choice.get("placements", []):
        print("placement\t%s\t%s" % (p.get("subject"), p.get("store")))
PY
}
step_ok() {  # case
    [[ $(head -n1 "$logs/$1-step.txt") == step_succeeded ]]
}
message_has() {  # case text
    sed -n 2p "$logs/$1-step.txt" | grep -qF -- "$2"
}

# --- the prefix ------------------------------------------------------------------------------------
started=$(date +%s)
wine_prefix_up
run wine-version reg add 'HKCU\Software\Wine' /v Version /t REG_SZ /d win10 /f || fail "could not make the prefix Windows 10"
echo "auto-store-wine: prefix ready in $(( $(date +%s) - started )) s"

# The site's SNI binding as http.sys keeps it (Wine's httpapi answers "not found", so certheal
# reads the registry, as it does on Windows when the API gives nothing).
binding_key="$http\\SslSniBindingInfo\\$sni"
reg_set "$binding_key" SslCertHash REG_BINARY 0123456789ABCDEF0123456789ABCDEF01234567
reg_set "$binding_key" SslCertStoreName REG_SZ MY
reg_set "$binding_key" AppId REG_BINARY 4dc3e181e14b4a21b022591c5f8b6f4c
reg_set "$binding_key" DefaultFlags REG_DWORD 2
reg_set "$binding_key" DefaultSslCertCheckMode REG_DWORD 1

# --- 1. exclusive CA trust: ClientAuthIssuer ----------------------------------------------------------
reg_set "$schannel" ClientAuthTrustMode REG_DWORD 2
store_add ClientAuthIssuer "$pki/partner.pem"
if has ClientAuthIssuer "$pki/root.pem" || has Root "$pki/root.pem"; then fail "the root CA is in a store before the repair"; fi
write_config exclusive "$pki/root.pem"
repair exclusive
if has ClientAuthIssuer "$pki/root.pem"; then
    pass "mode 2: trust_ca auto put the root CA into LocalMachine\\ClientAuthIssuer (crypt32 finds it)"
else
    fail "mode 2: the root CA is not in ClientAuthIssuer after the repair (see $logs/exclusive-step.txt, $logs/*repair-exclusive.txt)"
fi
if has Root "$pki/root.pem"; then fail "mode 2: trust_ca auto also put the root CA into Root, which Schannel ignores there"; else
    pass "mode 2: LocalMachine\\Root was left alone"; fi
if step_ok exclusive && message_has exclusive "for site intranet, certheal chose LocalMachine\\ClientAuthIssuer for" &&
    message_has exclusive "because ClientAuthTrustMode is 2 (exclusive CA trust): Schannel trusts only the certificates in LocalMachine\\ClientAuthIssuer (ClientAuthIssuer holds certificates and the binding names no Ctl Store)" &&
    grep -q $'placement\tCN=certheal auto-store root CA,O=certheal tests\tClientAuthIssuer' "$logs/exclusive-step.txt"; then
    pass "mode 2: the step's event names ClientAuthIssuer and why"
else
    fail "mode 2: the step's event does not name ClientAuthIssuer and why (see $logs/exclusive-step.txt)"
fi

# --- 2. exclusive CA trust and the binding's Ctl Store: PartnerCAs ------------------------------------
reg_set "$binding_key" DefaultSslCtlStoreName REG_SZ PartnerCAs
store_add PartnerCAs "$pki/partner.pem"
write_config ctl-store "$pki/root.pem"
repair ctl-store
if has PartnerCAs "$pki/root.pem"; then
    pass "mode 2 with a Ctl Store: trust_ca auto put the root CA into LocalMachine\\PartnerCAs"
else
    fail "mode 2 with a Ctl Store: the root CA is not in PartnerCAs (see $logs/ctl-store-step.txt)"
fi
if step_ok ctl-store && message_has ctl-store "certheal chose LocalMachine\\PartnerCAs for" &&
    message_has ctl-store "(the Ctl Store Name of the SNI binding $sni)"; then
    pass "mode 2 with a Ctl Store: the event names the binding's store and the binding"
else
    fail "mode 2 with a Ctl Store: the event does not name PartnerCAs and the binding (see $logs/ctl-store-step.txt)"
fi
run reg-delete reg delete "$binding_key" /v DefaultSslCtlStoreName /f || fail "could not remove the Ctl Store Name"

# --- 3. machine trust: Root ------------------------------------------------------------------------------
reg_set "$schannel" ClientAuthTrustMode REG_DWORD 0
for store in ClientAuthIssuer; do
    for pem in partner root; do run store-remove "$tool_exe" remove "$store" "$(windows_path "$pki/$pem.pem")" || true; done
done
if has ClientAuthIssuer "$pki/partner.pem" || has ClientAuthIssuer "$pki/root.pem"; then fail "ClientAuthIssuer is not empty"; fi
write_config machine "$pki/root.pem"
repair machine
if has Root "$pki/root.pem"; then
    pass "mode 0: trust_ca auto put the root CA into LocalMachine\\Root (crypt32 finds it)"
else
    fail "mode 0: the root CA is not in Root after the repair (see $logs/machine-step.txt)"
fi
if has ClientAuthIssuer "$pki/root.pem"; then fail "mode 0: the root CA went to ClientAuthIssuer too"; fi
if step_ok machine && message_has machine "for site intranet, certheal chose LocalMachine\\Root for" &&
    message_has machine "because ClientAuthTrustMode is 0 (machine trust)"; then
    pass "mode 0: the step's event names Root and machine trust"
else
    fail "mode 0: the step's event does not name Root and machine trust (see $logs/machine-step.txt)"
fi

# --- 4. machine trust and a chain: the root into Root, the intermediate into CA ------------------------
write_config chain "$pki/chain.pem"
repair chain
if has Root "$pki/root2.pem" && has CA "$pki/intermediate.pem" && ! has Root "$pki/intermediate.pem"; then
    pass "mode 0 with a chain: the root went to Root and the intermediate to CA, never to Root"
else
    fail "mode 0 with a chain: expected root2 in Root and the intermediate in CA only (see $logs/chain-step.txt)"
fi
if step_ok chain && message_has chain "certheal chose LocalMachine\\CA for CN=certheal auto-store intermediate CA"; then
    pass "mode 0 with a chain: the event says the intermediate went to CA"
else
    fail "mode 0 with a chain: the event does not name CA for the intermediate (see $logs/chain-step.txt)"
fi

wine_test_finish
