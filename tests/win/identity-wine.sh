#!/usr/bin/env bash
# certheal.exe with a client certificate of LocalMachine\My, its key signing where it lives,
# under Wine, against openssl s_server requiring a client certificate, in a throwaway prefix:
#  1. a selector (issuer + clientAuth) finds the certificate; its CryptoAPI key signs a TLS 1.2
#     handshake (PKCS#1 v1.5, SHA-2 through the AES CSP); check-config's pre-flight names it;
#  2. against a TLS 1.3-only server the probe says that the key's provider cannot sign TLS 1.3,
#     and it is no rejected certificate;
#  3. a thumbprint names its certificate; a certificate imported with Wine's own
#     PFXImportCertStore signs too;
#  4. only expired matches, or none: client_cert_invalid, saying what was searched;
#  5. `certheal run` switches to a renewed certificate without a restart and says so once in a
#     client_cert_changed event with both thumbprints; the server sees the renewed one;
#  6. a CNG key (in process: Wine 8 persists no CNG key) authenticates TLS 1.3 and TLS 1.2 with
#     RSA-PSS and TLS 1.2 with PKCS#1 (the hidden [identity-tls] tests of certheal_wine_tests).
#   identity-wine.sh <certheal.exe> <certheal_identity_tool.exe> <certheal_wine_tests.exe>
# Logs stay in <certheal.exe dir>/wine-logs/identity/. CERTHEAL_KEEP_WINEPREFIX=1 keeps the prefix.
set -euo pipefail

certheal_exe=$(readlink -f "${1:?usage: identity-wine.sh <certheal.exe> <certheal_identity_tool.exe> <certheal_wine_tests.exe>}")
tool_exe=$(readlink -f "${2:?missing certheal_identity_tool.exe}")
tests_exe=$(readlink -f "${3:?missing certheal_wine_tests.exe}")
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/wine-lib.sh"
wine_test_start identity "$certheal_exe"

# start_server runs in a command substitution (a subshell): its servers' pids are in a file.
before_wine_cleanup() {
    if [[ -f $work/server.pids ]]; then
        while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$work/server.pids"
    fi
}

# The one site's probe --json line, as "class<TAB>error".
probe() {  # name config
    run "$1" "$certheal_exe" probe --json --config "$(windows_path "$2")" || true
    python3 -c 'import json, sys
lines = [line for line in open(sys.argv[1]) if line.startswith("{")]
result = json.loads(lines[0]) if lines else {"class": "no-json", "error": ""}
print(result["class"] + "\t" + (result.get("error") or ""))' "$logs/$1.out"
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
sha1_of() { openssl x509 -noout -fingerprint -sha1 -in "$1" | sed 's/.*=//; s/://g'; }

# --- a PKI with chosen dates (openssl ca) ---------------------------------------------------
pki=$work/pki
mkdir -p "$pki/issued"
touch "$pki/index.txt"
echo 1000 >"$pki/serial"
cat >"$pki/ca.cnf" <<EOF
[ ca ]
default_ca = local
[ local ]
dir = $pki
database = \$dir/index.txt
new_certs_dir = \$dir/issued
serial = \$dir/serial
default_md = sha256
policy = anything
unique_subject = no
email_in_dn = no
[ anything ]
commonName = supplied
[ client ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
[ server ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost
EOF
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=certheal identity CA" \
    -keyout "$pki/ca.key" -out "$pki/ca.pem" 2>"$logs/pki.log"
when() { date -u -d "$1" +%Y%m%d%H%M%SZ; }
issue() {  # name common-name extensions from to; a key already at $pki/name.key is used
    local key_options=(-newkey rsa:2048 -nodes -keyout "$pki/$1.key")
    [[ -f $pki/$1.key ]] && key_options=(-key "$pki/$1.key")
    openssl req -new "${key_options[@]}" -subj "/CN=$2" -out "$pki/$1.csr" 2>>"$logs/pki.log"
    openssl ca -batch -notext -config "$pki/ca.cnf" -extensions "$3" -cert "$pki/ca.pem" -keyfile "$pki/ca.key" \
        -in "$pki/$1.csr" -out "$pki/$1.pem" -startdate "$(when "$4")" -enddate "$(when "$5")" >>"$logs/pki.log" 2>&1
}
issue server localhost server "-1 day" "+30 days"
issue old "certheal web01" client "-300 days" "+65 days"
issue renewed "certheal web01 renewed" client "-1 hour" "+365 days"
issue lapsed "certheal lapsed" client "-400 days" "-1 day"
# Wine 8's PFXImportCertStore copies an RSA key only when every CRT part has its full length (d
# 256 bytes; p, q, dP, dQ, qInv 128) and, when one is shorter, keeps a broken key yet reports
# success: about one fresh key in 75 then signs garbage (a short qInv) and the server answers
# decrypt_error, as CI saw once. Windows imports every key; the PFX gets one Wine imports whole.
wine_imports_whole() {  # key.pem
    openssl rsa -in "$1" -noout -text 2>/dev/null | awk '
        /^[A-Za-z0-9]+:$/ { part = substr($1, 1, length($1) - 1); next }
        /^[A-Za-z]/ { part = ""; next }
        part != "" { gsub(/[ \t]/, ""); hex[part] = hex[part] $0 }
        END {
            full["privateExponent"] = 256
            full["prime1"] = full["prime2"] = full["exponent1"] = full["exponent2"] = full["coefficient"] = 128
            for (part in full) {
                digits = hex[part]; sub(/:$/, "", digits); count = split(digits, bytes, ":")
                if (bytes[1] == "00") count--
                if (count != full[part]) exit 1
            }
        }'
}
for attempt in $(seq 1 100); do
    openssl genrsa -out "$pki/from-pfx.key" 2048 2>>"$logs/pki.log"
    wine_imports_whole "$pki/from-pfx.key" && break
done
wine_imports_whole "$pki/from-pfx.key" || { echo "identity-wine: no key Wine imports whole in 100 tries" >&2; exit 1; }
issue from-pfx "certheal from pfx" client "-1 hour" "+30 days"
issue cng-client "certheal cng client" client "-1 hour" "+30 days"
openssl pkcs12 -export -in "$pki/from-pfx.pem" -inkey "$pki/from-pfx.key" -out "$pki/from-pfx.pfx" \
    -passout pass:pfx-password 2>>"$logs/pki.log"
old_sha1=$(sha1_of "$pki/old.pem")
renewed_sha1=$(sha1_of "$pki/renewed.pem")

# --- the servers: openssl s_server requiring a client certificate from the CA -------------------
start_server() {  # name arguments...
    local name=$1 port
    shift
    port=$(free_port)
    openssl s_server -accept "127.0.0.1:$port" -cert "$pki/server.pem" -key "$pki/server.key" \
        -CAfile "$pki/ca.pem" -Verify 1 -verify_return_error -www -no_ticket "$@" \
        </dev/null >"$logs/s_server-$name.log" 2>&1 &
    echo "$!" >>"$work/server.pids"
    for _ in $(seq 1 50); do
        (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    echo "$port"
}
tls12_port=$(start_server tls12 -tls1_2)
tls13_port=$(start_server tls13 -tls1_3)
tls12_pkcs1_port=$(start_server tls12-pkcs1 -tls1_2 -client_sigalgs "RSA+SHA256:RSA+SHA384")

wine_prefix_up
echo "identity-wine: prefix ready; s_server TLS 1.2 on $tls12_port, TLS 1.3 on $tls13_port, TLS 1.2 PKCS#1 on $tls12_pkcs1_port"

write_config() {  # file port client_cert-json [interval]
    cat >"$1" <<JSON
{
  "service": { "state_dir": "$(json_path "$work/state")", "allow_insecure_config_acl": true },
  "defaults": { "interval": "${4:-30s}", "timeout": "10s" },
  "sites": [ {
      "name": "intranet",
      "url": "https://localhost:$2/",
      "connect_to": "127.0.0.1",
      "tls": { "ca_file": "$(json_path "$pki/ca.pem")", "client_cert": $3 } } ]
}
JSON
}
selector='{ "store": "My", "issuer": "CN=certheal identity CA", "eku": "clientAuth" }'

run install-old "$tool_exe" install My "$(windows_path "$pki/old.pem")" "$(windows_path "$pki/old.key")" certheal-old ||
    fail "certheal_identity_tool could not install the certificate (see $logs/install-old.txt)"

# --- 1. a selector, a CryptoAPI key, TLS 1.2 ---------------------------------------------------
write_config "$work/tls12.json" "$tls12_port" "$selector"
run check-config "$certheal_exe" check-config --config "$(windows_path "$work/tls12.json")" ||
    fail "check-config refused the store client_cert (see $logs/check-config.txt)"
if grep -q "pre-flight: /sites/0/tls/client_cert: warning: selects CN=certheal web01 (SHA-1 $old_sha1" "$logs/check-config.txt" &&
    grep -q "CryptoAPI provider" "$logs/check-config.txt"; then
    pass "check-config's pre-flight names the certificate the selector takes and where its key lives"
else
    fail "check-config did not name the selected certificate (see $logs/check-config.txt)"
fi
IFS=$'\t' read -r class error < <(probe probe-tls12 "$work/tls12.json")
if [[ $class == healthy ]] && grep -q "CN *= *certheal web01$" "$logs/s_server-tls12.log"; then
    pass "a LocalMachine\\My certificate found by its issuer authenticates TLS 1.2 with its CryptoAPI key"
else
    fail "the TLS 1.2 probe with the store certificate is '$class' ($error), expected healthy (see $logs/probe-tls12.txt, $logs/s_server-tls12.log)"
fi
write_config "$work/tls12-pkcs1.json" "$tls12_pkcs1_port" "$selector"
IFS=$'\t' read -r class error < <(probe probe-tls12-pkcs1 "$work/tls12-pkcs1.json")
[[ $class == healthy ]] && pass "the same against a server that asks for PKCS#1 SHA-256/384 only" ||
    fail "the PKCS#1-only probe is '$class' ($error), expected healthy (see $logs/probe-tls12-pkcs1.txt)"

# certheal diagnose judges the same store certificate (not "unknown"): its CA is in no Windows
# store and certheal sends none with it, so crypt32 cannot build the chain past the leaf
# (0x800B010A): intermediate_missing.
run diagnose-store "$certheal_exe" diagnose --json --config "$(windows_path "$work/tls12.json")" || true
IFS=$'\t' read -r verdict cause subject < <(python3 -c 'import json, sys
lines = [line for line in open(sys.argv[1]) if line.startswith("{")]
d = json.loads(lines[0]) if lines else {}
c = (d.get("facts") or {}).get("client_certificate") or {}
print("%s\t%s\t%s" % (d.get("verdict", "no-json"), d.get("cause", "-"), c.get("subject", "-")))' "$logs/diagnose-store.out")
if [[ $verdict == rejected && $cause == intermediate_missing && $subject == "CN=certheal web01" ]]; then
    pass "certheal diagnose judges the LocalMachine\\My certificate the selector takes (intermediate_missing, not unknown)"
else
    fail "diagnose of the store certificate: verdict '$verdict', cause '$cause', certificate '$subject'; expected rejected, intermediate_missing, CN=certheal web01 (see $logs/diagnose-store.txt)"
fi

# --- 2. the CryptoAPI key and a TLS 1.3-only server ----------------------------------------------
write_config "$work/tls13.json" "$tls13_port" "$selector"
IFS=$'\t' read -r class error < <(probe probe-tls13 "$work/tls13.json")
if [[ $class == tls_error && $error == *"legacy CryptoAPI provider"* && $error == *"TLS 1.2 at most"* ]]; then
    pass "against a TLS 1.3-only server the probe says the CryptoAPI key cannot sign TLS 1.3 (tls_error, not a rejection)"
else
    fail "the TLS 1.3-only probe is '$class' ($error), expected tls_error naming the legacy provider (see $logs/probe-tls13.txt)"
fi

# --- 3. a thumbprint; Wine's own PFX import --------------------------------------------------------
write_config "$work/thumbprint.json" "$tls12_port" "{ \"store\": \"My\", \"thumbprint\": \"$old_sha1\" }"
IFS=$'\t' read -r class error < <(probe probe-thumbprint "$work/thumbprint.json")
[[ $class == healthy ]] && pass "a thumbprint names its certificate" ||
    fail "the probe by thumbprint is '$class' ($error), expected healthy (see $logs/probe-thumbprint.txt)"
run import-pfx "$tool_exe" import-pfx My "$(windows_path "$pki/from-pfx.pfx")" pfx-password ||
    fail "PFXImportCertStore did not import the PFX (see $logs/import-pfx.txt)"
write_config "$work/pfx.json" "$tls12_port" "{ \"store\": \"My\", \"thumbprint\": \"$(sha1_of "$pki/from-pfx.pem")\" }"
IFS=$'\t' read -r class error < <(probe probe-pfx "$work/pfx.json")
[[ $class == healthy ]] && pass "a certificate imported by PFXImportCertStore (Wine's user container, keyspec 3) authenticates" ||
    fail "the probe with the PFX-imported certificate is '$class' ($error), expected healthy (see $logs/probe-pfx.txt)"
# It is newer than the old certificate and matches the selector: out of the way of the renewal.
run remove-pfx "$tool_exe" remove My "$(windows_path "$pki/from-pfx.pem")" ||
    fail "certheal_identity_tool could not remove the PFX-imported certificate (see $logs/remove-pfx.txt)"

# --- 4. only expired matches; no match --------------------------------------------------------------
run install-lapsed "$tool_exe" install My "$(windows_path "$pki/lapsed.pem")" "$(windows_path "$pki/lapsed.key")" certheal-lapsed ||
    fail "certheal_identity_tool could not install the expired certificate (see $logs/install-lapsed.txt)"
write_config "$work/lapsed.json" "$tls12_port" \
    '{ "store": "My", "issuer": "CN=certheal identity CA", "subject": "CN=certheal lapsed" }'
IFS=$'\t' read -r class error < <(probe probe-lapsed "$work/lapsed.json")
if [[ $class == client_cert_invalid && $error == *"only expired certificates match LocalMachine\\My certificates for CN=certheal lapsed"* ]]; then
    pass "only an expired match is client_cert_invalid, naming it and what was searched"
else
    fail "the probe with only an expired match is '$class' ($error) (see $logs/probe-lapsed.txt)"
fi
write_config "$work/none.json" "$tls12_port" '{ "store": "My", "issuer": "CN=Contoso Issuing CA, DC=contoso, DC=com" }'
IFS=$'\t' read -r class error < <(probe probe-none "$work/none.json")
if [[ $class == client_cert_invalid && $error == *"no certificate in LocalMachine\\My matches"* && $error == *"CN=Contoso Issuing CA"* ]]; then
    pass "no match is client_cert_invalid, saying what was searched"
else
    fail "the probe without a match is '$class' ($error) (see $logs/probe-none.txt)"
fi

# --- 5. a renewal taken over by the running service -----------------------------------------------
write_config "$work/run.json" "$tls12_port" "$selector" "1s"
journal=$work/state/journal.jsonl
certheal_run_start "$certheal_exe" "$work/run.json"
before=$(grep -c "CN *= *certheal web01$" "$logs/s_server-tls12.log" || true)
for _ in $(seq 1 60); do  # until the running service has probed with the old certificate
    now=$(grep -c "CN *= *certheal web01$" "$logs/s_server-tls12.log" || true)
    ((now > before)) && break
    sleep 0.5
done
run install-renewed "$tool_exe" install My "$(windows_path "$pki/renewed.pem")" "$(windows_path "$pki/renewed.key")" certheal-renewed ||
    fail "certheal_identity_tool could not install the renewed certificate (see $logs/install-renewed.txt)"
wait_for_journal_event "$journal" client_cert_changed 40 || true
sleep 2  # a few more rounds with the renewed certificate
certheal_run_stop "$journal"
changed=$(grep '"event":"client_cert_changed"' "$journal" 2>/dev/null || true)
if [[ $(grep -c . <<<"$changed") == 1 && $changed == *"\"sha1\":\"$renewed_sha1\""* && $changed == *"\"previous_sha1\":\"$old_sha1\""* ]]; then
    pass "certheal run took the renewed certificate without a restart and said so once, with both thumbprints"
else
    fail "expected one client_cert_changed event from $old_sha1 to $renewed_sha1 (see $logs/journal.jsonl)"
fi
grep -q "CN *= *certheal web01 renewed$" "$logs/s_server-tls12.log" &&
    pass "the server saw the renewed certificate" ||
    fail "the server never saw the renewed certificate (see $logs/s_server-tls12.log)"
if grep -q '"event":"service_started"' "$journal" && [[ $(grep -c '"event":"service_started"' "$journal") == 1 ]]; then
    pass "one service start for all of it"
else
    fail "certheal started more than once (see $logs/journal.jsonl)"
fi

# --- 6. CNG keys, in process ------------------------------------------------------------------------
export CERTHEAL_IDENTITY_DIR
CERTHEAL_IDENTITY_DIR=$(windows_path "$pki")
export CERTHEAL_TLS13_PORT=$tls13_port CERTHEAL_TLS12_PORT=$tls12_port CERTHEAL_TLS12_PKCS1_PORT=$tls12_pkcs1_port
if run cng "$tests_exe" "[identity-tls]"; then
    pass "a CNG key authenticates TLS 1.3 (RSA-PSS), TLS 1.2 (RSA-PSS) and TLS 1.2 (PKCS#1)"
else
    fail "the CNG handshakes failed (see $logs/cng.txt)"
fi

wine_test_finish
