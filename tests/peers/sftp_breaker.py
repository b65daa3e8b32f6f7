#!/usr/bin/env python3
"""An SFTP server that breaks one rule: runs a real SFTP server program (over stdin/stdout, as
`sftp -D` does) and rewrites the requests or replies that cross it according to FAULT.

    sftp_breaker.py FAULT -- server-command [args...]

Used by crates/cli/tests/conform_sftp.rs: `nacre conform sftp -D` must report FAIL for the
check each fault breaks.
"""
import struct
import subprocess
import sys
import threading

FAULTS = {
    "version2",          # VERSION says 2
    "eof-as-failure",    # STATUS EOF becomes FAILURE
    "missing-as-failure",  # STATUS NO_SUCH_FILE becomes FAILURE
    "errors-as-ok",      # every error STATUS (code >= 2) becomes OK
    "short-data",        # DATA loses its last byte
    "ignore-append",     # OPEN without SSH_FXF_APPEND
    "ignore-trunc",      # OPEN without SSH_FXF_TRUNC
    "ignore-excl",       # OPEN without SSH_FXF_EXCL
    "fake-setstat",      # SETSTAT answered OK, never done
    "fake-symlink",      # SYMLINK answered OK, never done
    "unknown-ext-ok",    # an unknown EXTENDED request answered OK
    "relative-realpath",  # REALPATH names lose their leading slash
    "small-limits",      # limits@openssh.com says max-read-length 1000
}


def read_exact(f, n):
    buf = b""
    while len(buf) < n:
        chunk = f.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_frame(f):
    head = read_exact(f, 4)
    if head is None:
        return None
    (n,) = struct.unpack(">I", head)
    body = read_exact(f, n)
    return body


def write_frame(f, body, lock):
    with lock:
        f.write(struct.pack(">I", len(body)) + body)
        f.flush()


def sstr(b):
    return struct.pack(">I", len(b)) + b


def status(req_id, code):
    return bytes([101]) + struct.pack(">II", req_id, code) + sstr(b"broken") + sstr(b"")


def main():
    fault = sys.argv[1]
    assert fault in FAULTS, fault
    cmd = sys.argv[sys.argv.index("--") + 1:]
    child = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    out = sys.stdout.buffer
    lock = threading.Lock()
    kinds = {}  # request id -> (packet type, extension name)

    def replies():
        while True:
            body = read_frame(child.stdout)
            if body is None:
                break
            kind = body[0]
            if kind == 2 and fault == "version2":
                body = bytes([2]) + struct.pack(">I", 2) + body[5:]
            elif kind != 2:
                (req_id,) = struct.unpack(">I", body[1:5])
                req = kinds.pop(req_id, (0, b""))
                if kind == 101:
                    (code,) = struct.unpack(">I", body[5:9])
                    new = code
                    if fault == "eof-as-failure" and code == 1:
                        new = 4
                    if fault == "missing-as-failure" and code == 2:
                        new = 4
                    if fault == "errors-as-ok" and code >= 2:
                        new = 0
                    if fault == "unknown-ext-ok" and req == (200, b"conform@nacre.invalid"):
                        new = 0
                    body = body[:5] + struct.pack(">I", new) + body[9:]
                elif kind == 103 and fault == "short-data":
                    (n,) = struct.unpack(">I", body[5:9])
                    if n > 1:
                        body = body[:5] + struct.pack(">I", n - 1) + body[9:9 + n - 1]
                elif kind == 104 and fault == "relative-realpath" and req[0] == 16:
                    (n,) = struct.unpack(">I", body[9:13])
                    name = body[13:13 + n].lstrip(b"/")
                    body = body[:9] + sstr(name) + body[13 + n:]
                elif kind == 201 and fault == "small-limits" and req == (200, b"limits@openssh.com"):
                    body = body[:5] + body[5:13] + struct.pack(">Q", 1000) + body[21:]
            write_frame(out, body, lock)
        out.close()

    threading.Thread(target=replies, daemon=True).start()
    src = sys.stdin.buffer
    while True:
        body = read_frame(src)
        if body is None:
            break
        kind = body[0]
        if kind != 1:
            (req_id,) = struct.unpack(">I", body[1:5])
            ext = b""
            if kind == 200:
                (n,) = struct.unpack(">I", body[5:9])
                ext = body[9:9 + n]
            kinds[req_id] = (kind, ext)
            if kind == 3:
                (n,) = struct.unpack(">I", body[5:9])
                at = 9 + n
                (flags,) = struct.unpack(">I", body[at:at + 4])
                drop = {"ignore-append": 0x04, "ignore-trunc": 0x10, "ignore-excl": 0x20}.get(fault, 0)
                body = body[:at] + struct.pack(">I", flags & ~drop) + body[at + 4:]
            if (kind == 9 and fault == "fake-setstat") or (kind == 20 and fault == "fake-symlink"):
                kinds.pop(req_id, None)
                write_frame(out, status(req_id, 0), lock)
                continue
        child.stdin.write(struct.pack(">I", len(body)) + body)
        child.stdin.flush()
    child.stdin.close()
    child.wait()


if __name__ == "__main__":
    main()
