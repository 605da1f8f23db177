#!/usr/bin/env bash
# What one process writes to a LocalMachine certificate store, the next one sees: certheal's
# check-config, the service and a repair step run in different processes. Each step below is a
# separate run of certheal_certstore_tool.exe in one throwaway Wine prefix; add, remove and list
# go through certheal's SystemCertificateStores, `has` asks crypt32 directly.
#   certstore-wine.sh <certheal_certstore_tool.exe>
# Logs stay in <tool dir>/wine-logs/certstore/. CERTHEAL_KEEP_WINEPREFIX=1 keeps the prefix.
set -euo pipefail

tool=$(readlink -f "${1:?usage: certstore-wine.sh <certheal_certstore_tool.exe>}")
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/wine-lib.sh"
wine_test_start certstore "$tool"
wine_run_numbered=1

tool_run() {  # name arguments...: the tool as its own Wine process; returns its exit code
    local name=$1
    shift
    run "$name" "$tool" "$@"
}
expect_exit() {  # wanted-code description name arguments...
    local wanted=$1 description=$2 status=0
    shift 2
    tool_run "$@" || status=$?
    if [[ $status -eq $wanted ]]; then
        pass "$description"
    else
        fail "$description: exit code $status, expected $wanted ($(tr '\n' ' ' <"$last"))"
    fi
}

# --- the certificates: a throwaway CA, and a certificate it issued (as DER) ---------------------
pki=$work/pki
mkdir -p "$pki"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/O=certheal tests/CN=certstore-wine CA" -addext "basicConstraints=critical,CA:TRUE" \
    -keyout "$pki/ca.key" -out "$pki/ca.pem" >"$logs/openssl.log" 2>&1
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=certheal tests/CN=certstore-wine issued" \
    -keyout "$pki/issued.key" -out "$pki/issued.csr" >>"$logs/openssl.log" 2>&1
openssl x509 -req -in "$pki/issued.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial -days 2 \
    -outform DER -out "$pki/issued.der" >>"$logs/openssl.log" 2>&1
printf -- '-----BEGIN CERTIFICATE-----\nTm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n' >"$pki/garbage.pem"
ca_thumbprint=$(openssl x509 -in "$pki/ca.pem" -noout -fingerprint -sha1 | sed 's/^.*=//; s/://g')
ca_pem=$(windows_path "$pki/ca.pem")
issued_der=$(windows_path "$pki/issued.der")
garbage_pem=$(windows_path "$pki/garbage.pem")

# --- a throwaway prefix that stays up (see run-wine-tests.sh) ---------------------------------------
started=$(date +%s)
wine_prefix_up
echo "certstore-wine: prefix $WINEPREFIX ready in $(( $(date +%s) - started )) s"

# --- add in one process, see it in the next ----------------------------------------------------------
expect_exit 1 "a fresh prefix's Root does not hold the test CA" has-before has Root "$ca_pem"
expect_exit 0 "the CA is added to LocalMachine\\Root" add add Root "$ca_pem"
grep -q "^$ca_thumbprint added to LocalMachine\\\\Root$" "$last" && pass "add reports the CA as added" ||
    fail "add did not report $ca_thumbprint as added ($(cat "$last"))"
expect_exit 0 "a second process finds the CA in Root with crypt32" has-after-add has Root "$ca_pem"
expect_exit 0 "adding the CA again succeeds" add-again add Root "$ca_pem"
grep -q "^$ca_thumbprint was already in LocalMachine\\\\Root$" "$last" &&
    pass "adding it again reports it as already there" || fail "the second add did not say it was already there"
expect_exit 0 "Root can be listed" list list Root
grep -qP "^$ca_thumbprint\tCN=certstore-wine CA,O=certheal tests\tCN=certstore-wine CA,O=certheal tests$" \
    "$last" && pass "list shows the CA once with its thumbprint, subject and issuer" ||
    fail "list Root has no line for the CA (see $last)"
[[ $(grep -c "^$ca_thumbprint" "$last") -eq 1 ]] || fail "list Root shows the CA more than once"

expect_exit 0 "the issued certificate (DER) is added to LocalMachine\\CA" add-issued add CA "$issued_der"
expect_exit 0 "a second process finds it in CA" has-issued has CA "$issued_der"
expect_exit 1 "it is not in Root" has-issued-root has Root "$issued_der"

# --- what is written lasts past the wineserver (the prefix's registry on disk) -------------------
"$wineserver" -k >/dev/null 2>&1 || true
"$wineserver" -w
"$wineserver" -p >>"$logs/wineserver.log" 2>&1
expect_exit 0 "after the wineserver restarted, the CA is still in Root" has-after-restart has Root "$ca_pem"

# --- remove in one process, gone for the next ---------------------------------------------------------
expect_exit 0 "the CA is removed from Root" remove remove Root "$ca_pem"
grep -q "^$ca_thumbprint removed from LocalMachine\\\\Root$" "$last" && pass "remove reports it removed" ||
    fail "remove did not report $ca_thumbprint as removed ($(cat "$last"))"
expect_exit 1 "a second process no longer finds the CA in Root" has-after-remove has Root "$ca_pem"
expect_exit 0 "removing it again succeeds" remove-again remove Root "$ca_pem"
grep -q "was not in LocalMachine\\\\Root$" "$last" && pass "removing it again reports it was not there" ||
    fail "the second remove did not say it was not there"
expect_exit 0 "the issued certificate is removed from CA" remove-issued remove CA "$issued_der"
expect_exit 1 "a second process no longer finds it in CA" has-issued-after-remove has CA "$issued_der"

# --- what must not write -----------------------------------------------------------------------------
expect_exit 2 "a file that is not a certificate is refused" add-garbage add Root "$garbage_pem"
grep -q "not one DER-encoded X.509 certificate" "$last" && pass "the refusal says why" ||
    fail "the refusal does not say the bytes are not a certificate ($(cat "$last"))"
expect_exit 0 "a store that does not exist lists without error" list-missing list CerthealNoSuchStore
[[ ! -s $last_out ]] && pass "and lists as empty" || fail "and is not empty"
status=0
"$wine" reg query 'HKLM\SOFTWARE\Microsoft\SystemCertificates\CerthealNoSuchStore' >"$logs/reg-missing.out" 2>&1 ||
    status=$?
[[ $status -ne 0 ]] && pass "listing it did not create it" || fail "listing CerthealNoSuchStore created its registry key"

wine_test_finish
