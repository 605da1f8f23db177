#!/bin/sh
# The certheal lab: a throwaway PKI and an nginx on loopback that requires client
# certificates the way nginx admins configure it, and answers as nginx does: on its main port
# `ssl_verify_client on` (a refused certificate gets nginx's own 400 "The SSL certificate error"
# page, a missing one 400 "No required SSL certificate was sent"); on a second port
# `ssl_verify_client optional_no_ca` and a rule that answers 403 unless the certificate verified.
# Both check the good CA's CRL (`ssl_crl`). Used by the C++ lab tests and by the demo script.
#
#   lab.sh up DIR       create the PKI and config in DIR, start nginx, print key=value lines
#   lab.sh desync DIR   trust the unrelated "other" CA for client certs, reload nginx
#   lab.sh resync DIR   trust the "good" CA again, reload nginx (a certheal `run` step)
#   lab.sh down DIR     stop nginx
#   lab.sh pki DIR      only create the PKI (for the other servers' lab fixtures), print lab.env
#
# The IIS-like lab: certheal_iis_lab_server (tests/lab/iis_lab_server.cpp; its path in the
# environment variable CERTHEAL_IIS_LAB_SERVER) asks for the client certificate by a TLS 1.2
# renegotiation after reading the request, and answers 403 with "HTTP Error 403.7/.16/.17"
# bodies, as IIS does. It reads its client CA bundle for every connection, so desync/resync
# need no reload. It uses the PKI of `up` when DIR has one, else it creates it (without nginx).
#
#   lab.sh iis-up DIR [server args...]  start it (default: --request renegotiate --tls 1.2),
#                                       write iis.env (iis_port, iis_url, iis_bundle, iis_log), print it
#   lab.sh iis-desync DIR               its client CA bundle becomes the unrelated "other" CA
#   lab.sh iis-resync DIR               its client CA bundle becomes the "good" CA again
#   lab.sh iis-down DIR                 stop it
set -eu

usage() {
    echo "usage: $0 up|desync|resync|down|pki|iis-desync|iis-resync|iis-down DIR" >&2
    echo "       $0 iis-up DIR [certheal_iis_lab_server args...]" >&2
    exit 2
}

[ $# -ge 2 ] || usage
command=$1
dir=$2
shift 2
[ $# -eq 0 ] || [ "$command" = iis-up ] || usage
case $dir in
    /*) ;;
    *) dir=$(cd "$dir" 2>/dev/null && pwd || { mkdir -p "$dir" && cd "$dir" && pwd; }) ;;
esac

nginx_bin=${NGINX:-nginx}
if ! command -v "$nginx_bin" >/dev/null 2>&1; then
    for candidate in /usr/sbin/nginx /usr/local/sbin/nginx /usr/local/nginx/sbin/nginx; do
        [ -x "$candidate" ] && nginx_bin=$candidate && break
    done
fi

pass="lab-pfx-password"  # a throwaway password for a throwaway key

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

make_ca() {  # name subject
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
        -subj "/CN=$2" -keyout "$dir/$1-ca.key" -out "$dir/$1-ca.pem" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

make_leaf() {  # name subject ca extensions
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
        -keyout "$dir/$1.key" -out "$dir/$1.csr" 2>/dev/null
    printf '%s\n' "$4" >"$dir/$1.ext"
    openssl x509 -req -in "$dir/$1.csr" -CA "$dir/$3-ca.pem" -CAkey "$dir/$3-ca.key" -CAcreateserial \
        -days 365 -extfile "$dir/$1.ext" -out "$dir/$1.pem" 2>/dev/null
    rm -f "$dir/$1.csr" "$dir/$1.ext"
}

# Issues a client certificate from the good CA that expired yesterday. `openssl x509 -req`
# of OpenSSL 3.0 cannot set a validity in the past (-not_before/-not_after came in 3.4), so a
# minimal `openssl ca` does it, with its database in DIR/ca-db. The same database issues a
# client certificate, revokes it and writes the good CA's CRL (good-ca.crl) that lists it.
make_expired_and_revoked_clients() {
    rm -rf "$dir/ca-db"
    mkdir -p "$dir/ca-db"
    : >"$dir/ca-db/index.txt"
    echo 01 >"$dir/ca-db/crlnumber"
    cat >"$dir/ca-db/ca.cnf" <<CNF
[ca]
default_ca = lab_ca
[lab_ca]
database = $dir/ca-db/index.txt
new_certs_dir = $dir/ca-db
serial = $dir/ca-db/serial
rand_serial = yes
default_md = sha256
policy = lab_policy
unique_subject = no
copy_extensions = none
x509_extensions = client_extensions
crlnumber = $dir/ca-db/crlnumber
default_crl_days = 30
[lab_policy]
commonName = supplied
[client_extensions]
basicConstraints = critical,CA:FALSE
extendedKeyUsage = clientAuth
keyUsage = critical,digitalSignature
CNF
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=certheal lab expired client" \
        -keyout "$dir/expired_client.key" -out "$dir/expired_client.csr" 2>/dev/null
    openssl ca -batch -notext -config "$dir/ca-db/ca.cnf" -cert "$dir/good-ca.pem" -keyfile "$dir/good-ca.key" \
        -startdate "$(date -u -d '30 days ago' +%Y%m%d%H%M%SZ)" -enddate "$(date -u -d '1 day ago' +%Y%m%d%H%M%SZ)" \
        -in "$dir/expired_client.csr" -out "$dir/expired_client.pem" 2>/dev/null
    rm -f "$dir/expired_client.csr"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=certheal lab revoked client" \
        -keyout "$dir/revoked_client.key" -out "$dir/revoked_client.csr" 2>/dev/null
    openssl ca -batch -notext -config "$dir/ca-db/ca.cnf" -cert "$dir/good-ca.pem" -keyfile "$dir/good-ca.key" \
        -days 365 -in "$dir/revoked_client.csr" -out "$dir/revoked_client.pem" 2>/dev/null
    rm -f "$dir/revoked_client.csr"
    openssl ca -batch -config "$dir/ca-db/ca.cnf" -cert "$dir/good-ca.pem" -keyfile "$dir/good-ca.key" \
        -revoke "$dir/revoked_client.pem" -crl_reason keyCompromise 2>/dev/null
    openssl ca -batch -config "$dir/ca-db/ca.cnf" -cert "$dir/good-ca.pem" -keyfile "$dir/good-ca.key" \
        -gencrl -out "$dir/good-ca.crl" 2>/dev/null
}

# The throwaway PKI shared by the nginx and the IIS-like lab.
make_pki() {
    make_ca good "certheal lab good client CA"
    make_ca other "certheal lab other client CA"
    make_ca server "certheal lab server CA"
    make_leaf server localhost server \
        "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature"
    make_leaf client "certheal lab client" good \
        "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature"
    make_leaf stranger "certheal lab stranger" other \
        "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature"
    make_expired_and_revoked_clients
    openssl pkcs12 -export -in "$dir/client.pem" -inkey "$dir/client.key" -certfile "$dir/good-ca.pem" \
        -passout "pass:$pass" -out "$dir/client.p12"
    printf '%s' "$pass" >"$dir/client.p12.pass"
    chmod 600 "$dir"/*.key "$dir/client.p12" "$dir/client.p12.pass"
}

# The lab.env lines that describe the PKI.
pki_env() {
    cat <<ENV
dir=$dir
server_ca=$dir/server-ca.pem
client_cert=$dir/client.pem
client_key=$dir/client.key
client_p12=$dir/client.p12
client_p12_password_file=$dir/client.p12.pass
stranger_cert=$dir/stranger.pem
stranger_key=$dir/stranger.key
expired_client_cert=$dir/expired_client.pem
expired_client_key=$dir/expired_client.key
revoked_client_cert=$dir/revoked_client.pem
revoked_client_key=$dir/revoked_client.key
good_ca_crl=$dir/good-ca.crl
good_ca=$dir/good-ca.pem
other_ca=$dir/other-ca.pem
server_cert=$dir/server.pem
server_key=$dir/server.key
ENV
}

# Replaces a file by a rename, so that a reader sees the old or the new file, never half of it.
replace_file() {  # source target
    cp "$1" "$2.tmp"
    mv -f "$2.tmp" "$2"
}

iis_pid() {
    [ -f "$dir/iis.pid" ] && cat "$dir/iis.pid"
}

# Waits (bounded) until nginx answers /health with the good client certificate as expected.
wait_for_status() {  # expected-status
    . "$dir/lab.env"
    attempt=0
    while [ $attempt -lt 40 ]; do
        got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 --cacert "$dir/server-ca.pem" \
            --cert "$dir/client.pem" --key "$dir/client.key" "https://127.0.0.1:$port/health" 2>/dev/null || true)
        [ "$got" = "$1" ] && return 0
        attempt=$((attempt + 1))
        sleep 0.05
    done
    echo "lab.sh: nginx in $dir did not answer $1 on /health within 2 seconds (last answer: ${got:-none})" >&2
    return 1
}

# Reloads nginx and waits (bounded) until the workers that ran the old config are gone,
# so the next connection is served with the new one.
reload() {
    master=$(cat "$dir/nginx.pid")
    old_workers=$(ps -o pid= --ppid "$master" 2>/dev/null || true)
    "$nginx_bin" -s reload -c "$dir/nginx.conf" -p "$dir/" 2>>"$dir/logs/control.log"
    attempt=0
    while [ $attempt -lt 40 ]; do
        alive=""
        for worker in $old_workers; do
            kill -0 "$worker" 2>/dev/null && alive="$alive $worker"
        done
        [ -z "$alive" ] && return 0
        attempt=$((attempt + 1))
        sleep 0.025
    done
    echo "lab.sh: old nginx workers ($alive) in $dir were still running 1 second after the reload" >&2
}

case $command in
up)
    mkdir -p "$dir/logs" "$dir/temp" "$dir/www"
    if [ -f "$dir/nginx.pid" ] && kill -0 "$(cat "$dir/nginx.pid")" 2>/dev/null; then
        "$nginx_bin" -s stop -c "$dir/nginx.conf" -p "$dir/" 2>/dev/null || true
    fi
    make_pki
    cp "$dir/good-ca.pem" "$dir/trusted-client-ca.pem"

    printf 'ok' >"$dir/www/health"
    # 200 KiB, to check that the prober caps what it reads.
    python3 -c 'import sys; sys.stdout.write("0123456789abcdef" * 12800)' >"$dir/www/big"

    port=$(free_port)
    optional_port=$(free_port)
    user_line=""
    [ "$(id -u)" = 0 ] && user_line="user root;"
    cat >"$dir/nginx.conf" <<CONF
# Generated by lab.sh; everything lives in $dir.
$user_line
daemon on;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log info;
events { worker_connections 256; }
http {
    access_log $dir/logs/access.log;
    client_body_temp_path $dir/temp/body;
    proxy_temp_path $dir/temp/proxy;
    fastcgi_temp_path $dir/temp/fastcgi;
    uwsgi_temp_path $dir/temp/uwsgi;
    scgi_temp_path $dir/temp/scgi;
    default_type text/plain;
    ssl_certificate $dir/server.pem;
    ssl_certificate_key $dir/server.key;
    ssl_session_cache off;
    ssl_session_tickets off;
    ssl_client_certificate $dir/trusted-client-ca.pem;
    ssl_crl $dir/good-ca.crl;
    ssl_verify_depth 2;
    # Stock nginx: a missing or refused certificate ends the request with nginx's own 400 pages.
    server {
        listen 127.0.0.1:$port ssl;
        server_name localhost;
        ssl_verify_client on;
        location = /health { root $dir/www; }
        location = /big { root $dir/www; }
        # 200 only when both SNI and Host carry the name from the URL.
        location = /sni {
            set \$names "\$ssl_server_name/\$host";
            if (\$names != "localhost/localhost") { return 421 "misdirected: \$names\n"; }
            return 200 "sni ok\n";
        }
    }
    # optional_no_ca and a rule: nginx's own 403 page unless the certificate verified (nginx
    # still answers 400 to the errors optional_no_ca does not waive: expired, revoked, ...).
    server {
        listen 127.0.0.1:$optional_port ssl;
        server_name localhost;
        ssl_verify_client optional_no_ca;
        if (\$ssl_client_verify != SUCCESS) { return 403; }
        location = /health { root $dir/www; }
    }
}
CONF
    {
        echo "port=$port"
        echo "url=https://localhost:$port/health"
        echo "optional_port=$optional_port"
        echo "optional_url=https://localhost:$optional_port/health"
        pki_env
        cat <<ENV
trusted_client_ca=$dir/trusted-client-ca.pem
nginx_conf=$dir/nginx.conf
nginx_pid=$dir/nginx.pid
ENV
    } >"$dir/lab.env"
    "$nginx_bin" -c "$dir/nginx.conf" -p "$dir/"
    wait_for_status 200
    cat "$dir/lab.env"
    ;;
desync)
    cp "$dir/other-ca.pem" "$dir/trusted-client-ca.pem"
    reload
    wait_for_status 400
    echo "lab: nginx in $dir now trusts the other CA for client certificates (desynchronised)"
    ;;
resync)
    cp "$dir/good-ca.pem" "$dir/trusted-client-ca.pem"
    reload
    wait_for_status 200
    echo "lab: nginx in $dir trusts the good client CA again"
    ;;
pki)
    mkdir -p "$dir"
    make_pki
    pki_env >"$dir/lab.env"
    cat "$dir/lab.env"
    ;;
down)
    if [ -f "$dir/nginx.pid" ]; then
        pid=$(cat "$dir/nginx.pid")
        "$nginx_bin" -s stop -c "$dir/nginx.conf" -p "$dir/" 2>/dev/null || kill "$pid" 2>/dev/null || true
        attempt=0
        while kill -0 "$pid" 2>/dev/null && [ $attempt -lt 40 ]; do
            sleep 0.05
            attempt=$((attempt + 1))
        done
    fi
    ;;
iis-up)
    server=${CERTHEAL_IIS_LAB_SERVER:-}
    if [ -z "$server" ] || [ ! -x "$server" ]; then
        echo "lab.sh: iis-up needs CERTHEAL_IIS_LAB_SERVER, the path of the built certheal_iis_lab_server (got '${server}')." >&2
        exit 2
    fi
    mkdir -p "$dir"
    pid=$(iis_pid || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        echo "lab.sh: an IIS-like lab server already runs in $dir (pid $pid); run iis-down first." >&2
        exit 1
    fi
    if [ ! -f "$dir/server.pem" ] || [ ! -f "$dir/expired_client.pem" ]; then
        make_pki
        pki_env >"$dir/lab.env"
    fi
    replace_file "$dir/good-ca.pem" "$dir/iis-trusted-client-ca.pem"
    rm -f "$dir/iis.port"
    "$server" --cert "$dir/server.pem" --key "$dir/server.key" --client-ca-bundle "$dir/iis-trusted-client-ca.pem" \
        --port-file "$dir/iis.port" --log "$dir/iis.log" "$@" >"$dir/iis.out" 2>&1 &
    echo $! >"$dir/iis.pid"
    attempt=0
    while [ ! -s "$dir/iis.port" ]; do
        if ! kill -0 "$(iis_pid)" 2>/dev/null || [ $attempt -ge 100 ]; then
            echo "lab.sh: certheal_iis_lab_server in $dir did not start listening within 5 seconds: $(cat "$dir/iis.out")" >&2
            exit 1
        fi
        attempt=$((attempt + 1))
        sleep 0.05
    done
    iis_port=$(cat "$dir/iis.port")
    cat >"$dir/iis.env" <<ENV
iis_port=$iis_port
iis_url=https://localhost:$iis_port/health
iis_bundle=$dir/iis-trusted-client-ca.pem
iis_log=$dir/iis.log
iis_pid=$(iis_pid)
ENV
    # Bounded wait for an HTTP answer, whatever it is (the extra args may force a 403).
    attempt=0
    while :; do
        got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 --tls-max 1.2 --cacert "$dir/server-ca.pem" \
            --cert "$dir/client.pem" --key "$dir/client.key" --resolve "localhost:$iis_port:127.0.0.1" \
            "https://localhost:$iis_port/health" 2>/dev/null || true)
        [ -n "$got" ] && [ "$got" != 000 ] && break
        attempt=$((attempt + 1))
        if [ $attempt -ge 10 ]; then
            echo "lab.sh: certheal_iis_lab_server in $dir listens on $iis_port but gave no HTTP answer within 10 seconds" >&2
            exit 1
        fi
        sleep 0.05
    done
    cat "$dir/iis.env"
    ;;
iis-desync)
    replace_file "$dir/other-ca.pem" "$dir/iis-trusted-client-ca.pem"
    echo "lab: the IIS-like server in $dir now trusts the other CA for client certificates (desynchronised)"
    ;;
iis-resync)
    replace_file "$dir/good-ca.pem" "$dir/iis-trusted-client-ca.pem"
    echo "lab: the IIS-like server in $dir trusts the good client CA again"
    ;;
iis-down)
    pid=$(iis_pid || true)
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        attempt=0
        while kill -0 "$pid" 2>/dev/null && [ $attempt -lt 100 ]; do
            sleep 0.05
            attempt=$((attempt + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "lab.sh: certheal_iis_lab_server (pid $pid) in $dir did not stop within 5 seconds" >&2
            exit 1
        fi
        rm -f "$dir/iis.pid"
    fi
    ;;
*)
    usage
    ;;
esac
