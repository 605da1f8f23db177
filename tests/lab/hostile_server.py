#!/usr/bin/env python3
"""A server on 127.0.0.1 that answers the way a broken or hostile site does, for the prober's
lab tests. It prints "port=N" once it listens and serves until killed, one thread per client.

  hostile_server.py MODE --cert FILE --key FILE [--size BYTES] [--marker TEXT] [--at BYTES]
                    [--title TEXT] [--interim N] [--client-ca FILE]

MODE (all but `banner` speak TLS with the given certificate, then read the request head):
  forbidden-page   403 with Content-Length and a body of --size bytes that holds --marker at
                   offset --at (an IIS detailed error page is large, its "403.7" near the top);
                   its <title> is --title. With --interim N, N pairs of interim answers (100
                   Continue, 103 Early Hints, as a proxy in front of IIS may send) come first.
  forbidden-chunked  the same page, chunked
  huge-header      a 200 whose single header line is --size bytes long
  not-http         TLS, then bytes that are not HTTP at all
  banner           no TLS: an SSH server's banner ("SSH-2.0-...") the moment a client connects
  post-handshake-auth  TLS 1.3 only; after the request head it asks for the client certificate
                   by post-handshake authentication (a server with a certificate required on
                   some paths only), verified against --client-ca: 200 "client certificate:
                   SUBJECT" when it got one, else 403 "no client certificate after the request:
                   REASON". No particular web server's pages.
"""
import argparse
import socket
import ssl
import sys
import threading

def page(size, marker, at, title):
    head = b"<html><head><title>" + title.encode() + b"</title></head><body>"
    body = bytearray(b" " * size)
    body[: len(head)] = head[:size]
    marker = marker.encode()
    body[at : at + len(marker)] = marker
    return bytes(body[:size])


def read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def serve_tls(conn, args, context):
    try:
        tls = context.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError):
        conn.close()
        return
    try:
        read_head(tls)
        if args.mode == "post-handshake-auth":
            serve_post_handshake_auth(tls)
        elif args.mode == "forbidden-page":
            body = page(args.size, args.marker, args.at, args.title)
            for _ in range(args.interim):
                tls.sendall(b"HTTP/1.1 100 Continue\r\n\r\n"
                            b"HTTP/1.1 103 Early Hints\r\nLink: </site.css>; rel=preload; as=style\r\n\r\n")
            tls.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\nServer: Microsoft-IIS/10.0\r\n"
                        b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        elif args.mode == "forbidden-chunked":
            body = page(args.size, args.marker, args.at, args.title)
            tls.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n"
                        b"Connection: close\r\n\r\n")
            for start in range(0, len(body), 16384):
                piece = body[start : start + 16384]
                tls.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
            tls.sendall(b"0\r\n\r\n")
        elif args.mode == "huge-header":
            tls.sendall(b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * args.size + b"\r\nContent-Length: 2\r\n\r\nok")
        elif args.mode == "not-http":
            tls.sendall(b"\x00\x01\x02 this is not an HTTP answer \xff\xfe\r\n\r\n")
        try:
            tls.unwrap()
        except (ssl.SSLError, OSError):
            pass
    except (ssl.SSLError, OSError):
        pass
    finally:
        tls.close()


def answer(tls, status, text):
    body = text.encode()
    tls.sendall(b"HTTP/1.1 " + status.encode() + b"\r\nContent-Type: text/plain\r\nContent-Length: " +
                str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)


def serve_post_handshake_auth(tls):
    try:
        tls.verify_client_post_handshake()  # queues the CertificateRequest
        tls.do_handshake()  # sends it
    except (ssl.SSLError, ValueError) as error:  # the client did not offer post-handshake auth
        answer(tls, "403 Forbidden", "no client certificate after the request: " + str(error))
        return
    # The client answers the request while it waits for our answer: read until its messages are
    # in (a read of application data that does not come times out).
    tls.settimeout(1.0)
    try:
        tls.recv(1)
    except (socket.timeout, ssl.SSLError, OSError):
        pass
    tls.settimeout(None)
    certificate = tls.getpeercert()
    if not certificate:
        answer(tls, "403 Forbidden", "no client certificate after the request: none was sent")
        return
    subject = ",".join("=".join(part) for rdn in certificate.get("subject", ()) for part in rdn)
    answer(tls, "200 OK", "client certificate: " + subject)


def serve_banner(conn):
    try:
        conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
        conn.settimeout(10)
        conn.recv(65536)  # whatever the client says; an SSH server would now wait for its banner
    except OSError:
        pass
    finally:
        conn.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["forbidden-page", "forbidden-chunked", "huge-header", "not-http", "banner",
                                         "post-handshake-auth"])
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--size", type=int, default=100 * 1024)
    parser.add_argument("--marker", default="HTTP Error 403.7 - Forbidden")
    parser.add_argument("--at", type=int, default=200)
    parser.add_argument("--title", default="IIS 10.0 Detailed Error - 403.7 - Forbidden")
    parser.add_argument("--interim", type=int, default=0)
    parser.add_argument("--client-ca")
    args = parser.parse_args()

    context = None
    if args.mode != "banner":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
    if args.mode == "post-handshake-auth":
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.load_verify_locations(args.client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
        context.post_handshake_auth = True
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print(f"port={listener.getsockname()[1]}", flush=True)
    while True:
        conn, _ = listener.accept()
        target = serve_banner if args.mode == "banner" else serve_tls
        arguments = (conn,) if args.mode == "banner" else (conn, args, context)
        threading.Thread(target=target, args=arguments, daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
