#!/usr/bin/env python3
"""paramiko as an interop peer of nacre, client or server (used by tests/tests/interop_matrix.rs).

Client: `paramiko_peer.py client` reads cases from stdin, one JSON object per line, runs each on a new
connection and prints one JSON result per line:
    {"name": str, "port": int, "user": str, "password": str|null, "key": path|null,
     "host_keys": ["TYPE BASE64", ...]   the server's keys; the host key is checked against them,
     "algs": {"kex": [..], "cipher": [..], "mac": [..], "hostkey": [..]}   each optional: only these,
     "renegotiate": bool                 transport.renegotiate_keys() after authentication,
     "compress": bool                    ask for compression (zlib@openssh.com, zlib),
     "exec": str|null                    command: its exit status and output are reported,
     "sftp": {"local": path, "remote": path, "back": path, "remove": bool}|null   put, stat, get,
                                         and remove unless "remove" is false}
    -> {"name", "ok", "error", "exit_status", "stdout", "negotiated": {...}}
`paramiko_peer.py supported` prints the algorithms this paramiko implements, as JSON.

Server: `paramiko_peer.py server --host-key PATH... --authorized-keys FILE --password PW --root DIR [--rekey] [--compress]`
listens on 127.0.0.1 (a free port, printed as `PORT n`), authenticates the user `peer` by password or by a key
of the authorized_keys file, runs exec requests with /bin/sh (exit status sent), serves SFTP over --root and,
with --rekey, starts a key re-exchange after every MiB sent or received (its packetizer's REKEY_BYTES); with
--compress it offers compression (zlib@openssh.com, zlib, none). Every algorithm paramiko implements is offered.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import traceback

import paramiko
import paramiko.common

T = paramiko.Transport
SUPPORTED = {
    "kex": list(T._preferred_kex),
    "cipher": list(T._preferred_ciphers),
    "mac": list(T._preferred_macs),
    "hostkey": list(T._preferred_keys),
}
KEY_CLASSES = {
    "ssh-ed25519": paramiko.Ed25519Key,
    "ecdsa-sha2-nistp256": paramiko.ECDSAKey,
    "ecdsa-sha2-nistp384": paramiko.ECDSAKey,
    "ecdsa-sha2-nistp521": paramiko.ECDSAKey,
    "ssh-rsa": paramiko.RSAKey,
}


def load_private(path):
    with open(path) as f:
        head = f.read()
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key_file(path)
        except Exception:
            continue
    raise ValueError("cannot load key %s (%s...)" % (path, head[:40]))


def public_from_line(line):
    kind, b64 = line.split()[:2]
    return paramiko.PKey.from_type_string(kind, __import__("base64").b64decode(b64))


def negotiated(t):
    kex = next((n for n, c in T._kex_info.items() if isinstance(t.kex_engine, c)), None)
    return {"kex": kex, "cipher": t.local_cipher, "mac": t.local_mac, "hostkey": t.host_key_type,
            "compression": [t.local_compression, t.remote_compression]}


def run_case(case):
    res = {"name": case.get("name"), "ok": False, "error": "", "exit_status": None, "stdout": "",
           "negotiated": {}}
    algs = case.get("algs") or {}
    sock = socket.create_connection(("127.0.0.1", case["port"]), timeout=60)
    t = paramiko.Transport(sock)
    try:
        opts = t.get_security_options()
        if algs.get("kex"):
            opts.kex = algs["kex"]
        if algs.get("cipher"):
            opts.ciphers = algs["cipher"]
        if algs.get("mac"):
            opts.digests = algs["mac"]
        if algs.get("hostkey"):
            opts.key_types = algs["hostkey"]
        if case.get("compress"):
            t.use_compression(True)
        t.start_client(timeout=60)
        key = t.get_remote_server_key()
        trusted = [public_from_line(l) for l in case.get("host_keys") or []]
        if trusted and not any(k.asbytes() == key.asbytes() for k in trusted):
            raise RuntimeError("host key %s not among the expected keys" % key.get_name())
        if case.get("key"):
            t.auth_publickey(case["user"], load_private(case["key"]))
        else:
            t.auth_password(case["user"], case["password"])
        if not t.is_authenticated():
            raise RuntimeError("not authenticated")
        if case.get("renegotiate"):
            t.renegotiate_keys()
        res["negotiated"] = negotiated(t)
        if case.get("exec") is not None:
            ch = t.open_session(timeout=60)
            ch.exec_command(case["exec"])
            out = b""
            while True:
                data = ch.recv(1 << 16)
                if not data:
                    break
                out += data
            res["exit_status"] = ch.recv_exit_status()
            res["stdout"] = out.decode("utf-8", "replace")
            ch.close()
        if case.get("sftp"):
            s = case["sftp"]
            sftp = paramiko.SFTPClient.from_transport(t)
            sftp.put(s["local"], s["remote"])
            if sftp.stat(s["remote"]).st_size != os.path.getsize(s["local"]):
                raise RuntimeError("size after put differs")
            sftp.get(s["remote"], s["back"])
            if s.get("remove", True):
                sftp.remove(s["remote"])
            sftp.close()
        if case.get("renegotiate"):
            # Once more after the traffic: the connection keeps working across re-exchanges.
            t.renegotiate_keys()
            ch = t.open_session(timeout=60)
            ch.exec_command("echo after-rekey")
            ch.recv_exit_status()
            ch.close()
        res["ok"] = True
    except Exception as e:
        res["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        t.close()
    return res


def client():
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(run_case(json.loads(line))), flush=True)


# ---------------------------------------------------------------------------------------------- server


class Handle(paramiko.SFTPHandle):
    def stat(self):
        try:
            return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)

    def chattr(self, attr):
        return paramiko.SFTP_OK


class Sftp(paramiko.SFTPServerInterface):
    """SFTP over a folder: just what put/get/stat/list/remove/rename/mkdir need."""

    def __init__(self, server, *args, root=None, **kwargs):
        super().__init__(server, *args, **kwargs)
        self.root = root

    def _real(self, path):
        return os.path.join(self.root, os.path.normpath("/" + path).lstrip("/"))

    def _attrs(self, path, name=None, follow=True):
        st = os.stat(path) if follow else os.lstat(path)
        a = paramiko.SFTPAttributes.from_stat(st)
        if name is not None:
            a.filename = name
        return a

    def _wrap(self, f):
        try:
            return f()
        except OSError as e:
            return paramiko.SFTPServer.convert_errno(e.errno)

    def canonicalize(self, path):
        return os.path.normpath("/" + path)

    def list_folder(self, path):
        real = self._real(path)
        return self._wrap(lambda: [self._attrs(os.path.join(real, n), n) for n in os.listdir(real)])

    def stat(self, path):
        return self._wrap(lambda: self._attrs(self._real(path)))

    def lstat(self, path):
        return self._wrap(lambda: self._attrs(self._real(path), follow=False))

    def open(self, path, flags, attr):
        def go():
            fd = os.open(self._real(path), flags, 0o644)
            mode = "rb" if flags & (os.O_WRONLY | os.O_RDWR) == 0 else \
                "ab" if flags & os.O_APPEND else "r+b"
            handle = Handle(flags)
            f = os.fdopen(fd, mode)
            handle.readfile = f
            handle.writefile = f
            return handle
        return self._wrap(go)

    def remove(self, path):
        return self._wrap(lambda: (os.remove(self._real(path)), paramiko.SFTP_OK)[1])

    def rename(self, old, new):
        return self._wrap(lambda: (os.rename(self._real(old), self._real(new)), paramiko.SFTP_OK)[1])

    def mkdir(self, path, attr):
        return self._wrap(lambda: (os.mkdir(self._real(path)), paramiko.SFTP_OK)[1])

    def rmdir(self, path):
        return self._wrap(lambda: (os.rmdir(self._real(path)), paramiko.SFTP_OK)[1])

    def chattr(self, path, attr):
        return paramiko.SFTP_OK


class Server(paramiko.ServerInterface):
    def __init__(self, args, transport):
        self.args = args
        self.transport = transport
        with open(args.authorized_keys) as f:
            self.keys = {l.split()[1] for l in f if l.strip() and not l.startswith("#")}

    def get_allowed_auths(self, username):
        return "publickey,password"

    def check_auth_password(self, username, password):
        ok = username == "peer" and password == self.args.password
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_auth_publickey(self, username, key):
        ok = username == "peer" and key.get_base64() in self.keys
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind, chanid):
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel, command):
        # The command's output must not overtake the answer to the exec request, which paramiko sends
        # after this returns: the worker waits for the patched _handle_request below.
        channel.nacre_request_answered = threading.Event()
        threading.Thread(target=self.run, args=(channel, command), daemon=True).start()
        return True

    def run(self, channel, command):
        try:
            channel.nacre_request_answered.wait(10)
            p = subprocess.run(["/bin/sh", "-c", command.decode()], stdin=subprocess.DEVNULL,
                               capture_output=True)
            channel.sendall(p.stdout)
            channel.sendall_stderr(p.stderr)
            channel.send_exit_status(p.returncode)
        except Exception:
            traceback.print_exc()
        finally:
            channel.shutdown_write()
            channel.close()


_handle_request = paramiko.Channel._handle_request


def _handle_request_then_signal(self, m):
    _handle_request(self, m)
    answered = getattr(self, "nacre_request_answered", None)
    if answered is not None:
        answered.set()


paramiko.Transport._channel_handler_table[paramiko.common.MSG_CHANNEL_REQUEST] = \
    _handle_request_then_signal


def serve_one(sock, args, host_keys):
    t = paramiko.Transport(sock)
    opts = t.get_security_options()
    opts.kex = SUPPORTED["kex"]
    opts.ciphers = SUPPORTED["cipher"]
    opts.digests = SUPPORTED["mac"]
    for k in host_keys:
        t.add_server_key(k)
    t.set_subsystem_handler("sftp", paramiko.SFTPServer, Sftp, root=args.root)
    if args.compress:
        t.use_compression(True)
    if args.rekey:
        # paramiko's own trigger (normally 512 MiB): re-exchange keys after every MiB either way.
        t.packetizer.REKEY_BYTES = 1 << 20
    try:
        t.start_server(server=Server(args, t))
        while t.is_active():
            t.join(1)
    except Exception:
        traceback.print_exc()


def server(args):
    # Group exchange is offered only with moduli loaded (OpenSSH's /etc/ssh/moduli).
    paramiko.Transport.load_server_moduli()
    host_keys = [load_private(p) for p in args.host_key]
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)
    print("PORT %d" % lsock.getsockname()[1], flush=True)
    while True:
        sock, _ = lsock.accept()
        threading.Thread(target=serve_one, args=(sock, args, host_keys), daemon=True).start()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["client", "server", "supported"])
    p.add_argument("--host-key", action="append", default=[])
    p.add_argument("--authorized-keys")
    p.add_argument("--password", default="peerpass")
    p.add_argument("--root")
    p.add_argument("--rekey", action="store_true")
    p.add_argument("--compress", action="store_true")
    args = p.parse_args()
    if args.mode == "client":
        client()
    elif args.mode == "supported":
        print(json.dumps(SUPPORTED))
    else:
        server(args)


if __name__ == "__main__":
    main()
