#!/usr/bin/env python3
"""A test ssh-agent holding FIDO security keys, written for nacre's tests from OpenSSH's
PROTOCOL.u2f and PROTOCOL.agent (draft-ietf-sshm-ssh-agent), with `cryptography` only.

OpenSSH's ssh-agent can hold `sk-*` keys only with a FIDO middleware; this agent plays the
authenticator itself: it makes fresh `sk-ssh-ed25519@openssh.com` and/or
`sk-ecdsa-sha2-nistp256@openssh.com` keys and signs as a security key does, with the flags it is
given (bit 0 user present, bit 2 user verified) and a counter that counts up from 1.

    sk_agent.py --socket PATH --pubkeys FILE [--types ed25519,ecdsa] [--flags N] [--application ssh:]

Writes one OpenSSH public key line per key to FILE, then `READY` on stdout once it listens; serves
SSH_AGENTC_REQUEST_IDENTITIES (11) and SSH_AGENTC_SIGN_REQUEST (13), answers SSH_AGENT_FAILURE (5)
to anything else, until killed.

Signature (PROTOCOL.u2f "SSH U2F signatures"):
    signed  = SHA256(application) || byte flags || uint32 counter || SHA256(data)
    Ed25519 signs `signed`; ECDSA P-256 signs it with SHA-256 (r, s as mpints).
    blob    = string alg || string signature || byte flags || uint32 counter
"""

import argparse
import base64
import hashlib
import os
import socket
import struct
import sys
import threading

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ED25519 = b"sk-ssh-ed25519@openssh.com"
ECDSA = b"sk-ecdsa-sha2-nistp256@openssh.com"


def string(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def mpint(n: int) -> bytes:
    if n == 0:
        return string(b"")
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    if raw[0] & 0x80:
        raw = b"\0" + raw
    return string(raw)


class SkKey:
    def __init__(self, kind: str, application: bytes):
        self.application = application
        if kind == "ed25519":
            self.alg = ED25519
            self.private = ed25519.Ed25519PrivateKey.generate()
            raw = self.private.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            self.blob = string(ED25519) + string(raw) + string(application)
        else:
            self.alg = ECDSA
            self.private = ec.generate_private_key(ec.SECP256R1())
            point = self.private.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
            self.blob = string(ECDSA) + string(b"nistp256") + string(point) + string(application)

    def line(self) -> str:
        return f"{self.alg.decode()} {base64.b64encode(self.blob).decode()} sk-agent-test"

    def sign(self, data: bytes, flags: int, counter: int) -> bytes:
        signed = (hashlib.sha256(self.application).digest() + bytes([flags])
                  + struct.pack(">I", counter) + hashlib.sha256(data).digest())
        if self.alg == ED25519:
            sig = self.private.sign(signed)
        else:
            r, s = decode_dss_signature(self.private.sign(signed, ec.ECDSA(hashes.SHA256())))
            sig = mpint(r) + mpint(s)
        return string(self.alg) + string(sig) + bytes([flags]) + struct.pack(">I", counter)


class Agent:
    def __init__(self, keys, flags: int):
        self.keys = keys
        self.flags = flags
        self.counter = 0
        self.lock = threading.Lock()

    def answer(self, msg: bytes) -> bytes:
        if not msg:
            return bytes([5])
        kind, body = msg[0], msg[1:]
        if kind == 11:
            out = bytes([12]) + struct.pack(">I", len(self.keys))
            for k in self.keys:
                out += string(k.blob) + string(b"sk-agent-test")
            return out
        if kind == 13:
            (n,) = struct.unpack(">I", body[:4])
            blob = body[4:4 + n]
            rest = body[4 + n:]
            (m,) = struct.unpack(">I", rest[:4])
            data = rest[4:4 + m]
            for k in self.keys:
                if k.blob == blob:
                    with self.lock:
                        self.counter += 1
                        counter = self.counter
                    return bytes([14]) + string(k.sign(data, self.flags, counter))
        return bytes([5])

    def serve_client(self, conn):
        with conn:
            buf = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
                while len(buf) >= 4:
                    (n,) = struct.unpack(">I", buf[:4])
                    if len(buf) < 4 + n:
                        break
                    msg, buf = buf[4:4 + n], buf[4 + n:]
                    conn.sendall(string(self.answer(msg)))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--socket", required=True)
    p.add_argument("--pubkeys", required=True)
    p.add_argument("--types", default="ed25519,ecdsa")
    p.add_argument("--flags", type=lambda s: int(s, 0), default=0x01)
    p.add_argument("--application", default="ssh:")
    args = p.parse_args()
    keys = [SkKey(t, args.application.encode()) for t in args.types.split(",") if t]
    with open(args.pubkeys, "w") as fh:
        for k in keys:
            fh.write(k.line() + "\n")
    agent = Agent(keys, args.flags)
    if os.path.exists(args.socket):
        os.unlink(args.socket)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(args.socket)
    os.chmod(args.socket, 0o600)
    server.listen(16)
    print("READY", flush=True)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=agent.serve_client, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
