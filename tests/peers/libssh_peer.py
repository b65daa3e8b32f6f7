#!/usr/bin/env python3
"""libssh's client (through ansible-pylibssh, which bundles libssh) as an interop peer of nacre (used by
tests/tests/interop_matrix.rs). The client half of the protocol of tests/peers/asyncssh_peer.py:

`libssh_peer.py client` reads JSON cases from stdin, one per line, runs each on a new connection and prints
one JSON result per line. The host key is checked by libssh against a known_hosts file holding the case's
keys (host_key_checking on); password or the key file's contents; "algs" may fix "kex" and "hostkey"
(SSH_OPTIONS_KEY_EXCHANGE, SSH_OPTIONS_HOSTKEYS: the only algorithm options the binding exposes); exec through
Channel.exec_command (stdout and exit status); SFTP: put, get (libssh's sftp_write/sftp_read).
`libssh_peer.py supported` prints the algorithms a test can choose, as JSON.
"""
import json
import os
import sys
import tempfile

from pylibsshext.session import Session

NO_OPTION = ("ansible-pylibssh exposes no option to choose it (only SSH_OPTIONS_KEY_EXCHANGE and "
             "SSH_OPTIONS_HOSTKEYS)")
SUPPORTED = {
    # libssh 0.11+.
    "kex": ["mlkem768x25519-sha256", "sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com",
            "curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256",
            "ecdh-sha2-nistp384", "ecdh-sha2-nistp521", "diffie-hellman-group18-sha512",
            "diffie-hellman-group16-sha512", "diffie-hellman-group-exchange-sha256",
            "diffie-hellman-group14-sha256", "diffie-hellman-group14-sha1",
            "diffie-hellman-group-exchange-sha1"],
    "hostkey": ["ssh-ed25519", "ecdsa-sha2-nistp521", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp256",
                "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
    "cipher": [],
    "mac": [],
    "client_lacks": {name: NO_OPTION for name in [
        "chacha20-poly1305@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr", "aes128-gcm@openssh.com",
        "aes256-gcm@openssh.com", "hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com",
        "hmac-sha1-etm@openssh.com", "hmac-sha2-256", "hmac-sha2-512", "hmac-sha1"]},
}


def run_case(case):
    res = {"name": case.get("name"), "ok": False, "error": "", "exit_status": None, "stdout": "",
           "negotiated": {}}
    algs = case.get("algs") or {}
    with tempfile.TemporaryDirectory(prefix="libssh-peer-") as d:
        kh = os.path.join(d, "known_hosts")
        with open(kh, "w") as f:
            for line in case.get("host_keys") or []:
                f.write("[127.0.0.1]:%d %s\n" % (case["port"], line))
        s = Session()
        try:
            kwargs = {"host": "127.0.0.1", "port": case["port"], "user": case["user"], "timeout": 60,
                      "look_for_keys": False, "host_key_checking": True, "knownhosts": kh}
            if algs.get("kex"):
                kwargs["key_exchange_algorithms"] = ",".join(algs["kex"])
            if algs.get("hostkey"):
                kwargs["hostkeys"] = ",".join(algs["hostkey"])
            if case.get("key"):
                with open(case["key"], "rb") as f:
                    kwargs["private_key"] = f.read()
            else:
                kwargs["password"] = case["password"]
            s.connect(**kwargs)
            if case.get("exec") is not None:
                ch = s.new_channel()
                r = ch.exec_command(case["exec"])
                res["exit_status"] = r.returncode
                res["stdout"] = (r.stdout or b"").decode("utf-8", "replace")
                ch.close()
            if case.get("sftp"):
                sp = case["sftp"]
                sftp = s.sftp()
                sftp.put(sp["local"], sp["remote"])
                sftp.get(sp["remote"], sp["back"])
                sftp.close()
            res["ok"] = True
        except Exception as e:  # noqa: BLE001 (the failure is the result)
            res["error"] = "%s: %s" % (type(e).__name__, e)
        finally:
            try:
                s.close()
            except Exception:  # noqa: BLE001
                pass
    return res


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "supported":
        print(json.dumps(SUPPORTED))
    elif mode == "client":
        for line in sys.stdin:
            if line.strip():
                print(json.dumps(run_case(json.loads(line))), flush=True)
    else:
        sys.exit("usage: libssh_peer.py client|supported (libssh's server is not in the matrix)")


if __name__ == "__main__":
    main()
