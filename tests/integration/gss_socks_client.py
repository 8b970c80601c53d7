#!/usr/bin/python3
"""A SOCKS5 client with GSSAPI authentication (RFC 1961) on python3-gssapi:
the second real client of the GSSAPI tests (curl is the first).

    gss_socks_client.py --proxy PORT --service socks@localhost \
        --dest HOST:PORT [--level N] [--nec] [--token-delay S] [--garbage]

Kerberos comes from the environment (KRB5_CONFIG, KRB5CCNAME). It sends an
HTTP GET through the tunnel and prints one JSON line: {"stage": where it
stopped, "ok": bool, "level": granted level, "reply": SOCKS reply, "body":
the HTTP response, "error": text}. Exit status 0 when the HTTP response came
back. --token-delay computes the first context token, waits S seconds, and
only then connects (a token whose ticket expired in the meantime).
--garbage sends a token that is not a GSSAPI token at all (--garbage-size
bytes long)."""
import argparse
import json
import socket
import struct
import sys
import time

import gssapi


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def read_msg(s):
    """(mtyp, token); mtyp 0xff is the abort (no length, no token)."""
    ver, mtyp = recv_exact(s, 2)
    if ver != 1:
        raise ValueError(f"GSSAPI message version {ver}")
    if mtyp == 0xFF:
        return mtyp, b""
    (n,) = struct.unpack("!H", recv_exact(s, 2))
    return mtyp, recv_exact(s, n)


def send_msg(s, mtyp, tok):
    s.sendall(bytes([1, mtyp]) + struct.pack("!H", len(tok)) + tok)


def run(a, out):
    host, dport = a.dest.rsplit(":", 1)
    out["stage"] = "init"
    name = gssapi.Name(a.service, gssapi.NameType.hostbased_service)
    flags = [gssapi.RequirementFlag.mutual_authentication,
             gssapi.RequirementFlag.integrity, gssapi.RequirementFlag.confidentiality]
    ctx = gssapi.SecurityContext(name=name, usage="initiate", flags=flags)
    tok = (b"\x60" + b"g" * (a.garbage_size - 1)) if a.garbage else ctx.step()
    if a.token_delay:
        time.sleep(a.token_delay)
    s = socket.create_connection(("127.0.0.1", a.proxy), timeout=20)
    out["stage"] = "greeting"
    s.sendall(b"\x05\x01\x01")
    ver, method = recv_exact(s, 2)
    if method != 1:
        raise ValueError(f"method 0x{method:02x} chosen")
    out["stage"] = "context"
    while True:
        send_msg(s, 1, tok)
        if ctx.complete or a.garbage and out.get("sent_garbage"):
            break
        out["sent_garbage"] = a.garbage
        mtyp, reply = read_msg(s)
        if mtyp == 0xFF:
            out["stage"] = "context-abort"
            return
        if mtyp != 1:
            raise ValueError(f"mtyp {mtyp} during context establishment")
        tok = ctx.step(reply)
        if ctx.complete:
            break
    out["principal"] = str(ctx.initiator_name)
    out["stage"] = "protection"
    level = bytes([a.level])
    send_msg(s, 2, level if a.nec else ctx.wrap(level, False).message)
    mtyp, reply = read_msg(s)
    if mtyp == 0xFF:
        out["stage"] = "protection-abort"
        return
    granted = reply if a.nec else ctx.unwrap(reply).message
    out["level"] = granted[0]
    out["stage"] = "request"
    hb = host.encode()
    s.sendall(b"\x05\x01\x00\x03" + bytes([len(hb)]) + hb + struct.pack("!H", int(dport)))
    rep = recv_exact(s, 4)
    out["reply"] = rep[1]
    if rep[1] != 0:
        return
    atyp = rep[3]
    recv_exact(s, {1: 4 + 2, 4: 16 + 2}.get(atyp, 0) or recv_exact(s, 1)[0] + 2)
    out["stage"] = "http"
    s.sendall(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
    body = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    out["body"] = body.decode("latin-1")
    out["ok"] = body.startswith(b"HTTP/")
    out["stage"] = "done"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--proxy", type=int, required=True)
    p.add_argument("--service", default="socks@localhost")
    p.add_argument("--dest", required=True)
    p.add_argument("--level", type=int, default=2)
    p.add_argument("--nec", action="store_true")
    p.add_argument("--token-delay", type=float, default=0)
    p.add_argument("--garbage", action="store_true")
    p.add_argument("--garbage-size", type=int, default=10)
    a = p.parse_args()
    out = {"ok": False}
    try:
        run(a, out)
    except Exception as e:  # reported, not raised: the test reads the stage
        out["error"] = f"{type(e).__name__}: {e}"
    out.pop("sent_garbage", None)
    print(json.dumps(out))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
