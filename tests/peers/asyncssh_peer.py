#!/usr/bin/env python3
"""AsyncSSH as an interop peer of nacre, client or server (used by tests/tests/interop_matrix.rs).

Client: `asyncssh_peer.py client` reads cases from stdin, one JSON object per line, runs each on a new
connection and prints one JSON result per line:
    {"name": str, "port": int, "user": str, "password": str|null, "key": path|null,
     "host_keys": ["TYPE BASE64", ...]   the server's keys; the host key is checked against them,
     "algs": {"kex": [..], "cipher": [..], "mac": [..], "hostkey": [..]}   each optional: only these,
     "rekey_bytes": int|null             AsyncSSH's rekey_bytes (it then starts the re-exchanges),
     "exec": str|null                    command: its exit status and output are reported,
     "sftp": {"local": path, "remote": path, "back": path, "remove": bool}|null   put, stat, get,
                                         and remove unless "remove" is false}
    -> {"name", "ok", "error", "exit_status", "stdout", "negotiated": {...}}
`asyncssh_peer.py supported` prints the algorithms this AsyncSSH implements, as JSON.

Server: `asyncssh_peer.py server --host-key PATH... --authorized-keys FILE --password PW --root DIR [--rekey]
[--compression ALG,...]`
listens on 127.0.0.1 (a free port, printed as `PORT n`), authenticates the user `peer` by password or by a key
of the authorized_keys file, runs exec requests with /bin/sh (exit status sent), serves SFTP over --root and,
with --rekey, sets rekey_bytes to 1 MiB; --compression offers only these compression algorithms (`zlib`, the
plain one that starts at NEWKEYS, for example). Every algorithm AsyncSSH implements (GSS-API kex aside) is offered.
"""
import argparse
import asyncio
import json
import os
import sys

import asyncssh
from asyncssh.encryption import get_encryption_algs
from asyncssh.kex import get_kex_algs
from asyncssh.mac import get_mac_algs
from asyncssh.public_key import get_public_key_algs


def names(algs):
    return [a.decode() for a in algs]


SUPPORTED = {
    "kex": [a for a in names(get_kex_algs()) if not a.startswith("gss-")],
    "cipher": names(get_encryption_algs()),
    "mac": names(get_mac_algs()),
    "hostkey": [a for a in names(get_public_key_algs()) if not a.startswith(("sk-", "webauthn-"))],
}


def negotiated(conn):
    def get(attr):
        v = getattr(conn, attr, None)
        return v.decode() if isinstance(v, bytes) else v
    kex = getattr(conn, "_kex", None)
    return {
        "kex": kex.algorithm.decode() if kex is not None else None,
        "cipher": get("_enc_alg_cs"),
        "mac": get("_mac_alg_cs"),
        "hostkey": get("_server_host_key_alg") if hasattr(conn, "_server_host_key_alg") else None,
    }


async def run_case(case):
    res = {"name": case.get("name"), "ok": False, "error": "", "exit_status": None, "stdout": "",
           "negotiated": {}}
    algs = case.get("algs") or {}
    kwargs = {"username": case["user"], "client_keys": None, "agent_path": None, "connect_timeout": 60,
              "encoding": None}
    trusted = [asyncssh.import_public_key(l) for l in case.get("host_keys") or []]
    kwargs["known_hosts"] = (trusted, [], []) if trusted else None
    if case.get("key"):
        kwargs["client_keys"] = [case["key"]]
        kwargs["preferred_auth"] = "publickey"
    else:
        kwargs["password"] = case["password"]
        kwargs["preferred_auth"] = "password"
    if algs.get("kex"):
        kwargs["kex_algs"] = algs["kex"]
    if algs.get("cipher"):
        kwargs["encryption_algs"] = algs["cipher"]
    if algs.get("mac"):
        kwargs["mac_algs"] = algs["mac"]
    if algs.get("hostkey"):
        kwargs["server_host_key_algs"] = algs["hostkey"]
    if case.get("rekey_bytes"):
        kwargs["rekey_bytes"] = case["rekey_bytes"]
    try:
        async with asyncssh.connect("127.0.0.1", case["port"], **kwargs) as conn:
            res["negotiated"] = negotiated(conn)
            if case.get("exec") is not None:
                r = await conn.run(case["exec"], check=False)
                res["exit_status"] = r.exit_status
                res["stdout"] = (r.stdout or b"").decode("utf-8", "replace")
            if case.get("sftp"):
                s = case["sftp"]
                async with conn.start_sftp_client() as sftp:
                    await sftp.put(s["local"], s["remote"])
                    if (await sftp.stat(s["remote"])).size != os.path.getsize(s["local"]):
                        raise RuntimeError("size after put differs")
                    await sftp.get(s["remote"], s["back"])
                    if s.get("remove", True):
                        await sftp.remove(s["remote"])
        res["ok"] = True
    except Exception as e:
        res["error"] = "%s: %s" % (type(e).__name__, e)
    return res


async def client():
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(await run_case(json.loads(line))), flush=True)


# ---------------------------------------------------------------------------------------------- server


def server_factory(password):
    class Server(asyncssh.SSHServer):
        def begin_auth(self, username):
            return True

        def password_auth_supported(self):
            return True

        def validate_password(self, username, pw):
            return username == "peer" and pw == password

        def kbdint_auth_supported(self):
            return False

    return Server


async def handle_process(process):
    p = await asyncio.create_subprocess_exec("/bin/sh", "-c", process.command or "true",
                                             stdin=asyncio.subprocess.DEVNULL,
                                             stdout=asyncio.subprocess.PIPE,
                                             stderr=asyncio.subprocess.PIPE)
    out, err = await p.communicate()
    process.stdout.write(out)
    process.stderr.write(err)
    process.exit(p.returncode)


async def server(args):
    extra = {"rekey_bytes": 1 << 20} if args.rekey else {}
    if args.compression:
        extra["compression_algs"] = args.compression.split(",")
    listener = await asyncssh.listen(
        "127.0.0.1", 0,
        server_host_keys=args.host_key,
        authorized_client_keys=args.authorized_keys,
        server_factory=server_factory(args.password),
        process_factory=handle_process,
        sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=args.root.encode()),
        encoding=None,
        kex_algs=SUPPORTED["kex"],
        encryption_algs=SUPPORTED["cipher"],
        mac_algs=SUPPORTED["mac"],
        signature_algs=SUPPORTED["hostkey"],
        allow_scp=False,
        **extra)
    print("PORT %d" % listener.get_port(), flush=True)
    await listener.wait_closed()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["client", "server", "supported"])
    p.add_argument("--host-key", action="append", default=[])
    p.add_argument("--authorized-keys")
    p.add_argument("--password", default="peerpass")
    p.add_argument("--root")
    p.add_argument("--rekey", action="store_true")
    p.add_argument("--compression")
    args = p.parse_args()
    if args.mode == "client":
        asyncio.run(client())
    elif args.mode == "supported":
        print(json.dumps(SUPPORTED))
    else:
        asyncio.run(server(args))


if __name__ == "__main__":
    main()
