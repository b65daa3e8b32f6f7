#!/usr/bin/env python3
"""Drives FileZilla's SFTP engine (`fzsftp`) through its stdin/stdout line protocol.

    fzsftp_driver.py '{"port": 2222, "user": "peer", "password": "pw" | null, "keyfile": "k.ppk" | null,
                       "host_key_fingerprints": ["SHA256:..."] | null,
                       "commands": [["put", LOCAL, REMOTE], ["ls"], ["get", REMOTE, LOCAL], ["rm", REMOTE]]}'

Commands: put LOCAL REMOTE, get REMOTE LOCAL, ls, pwd, cd DIR, mtime FILE, rm FILE, mkdir DIR, rmdir DIR,
mv FROM TO (each as fzsftp's command of that name; paths relative to fzsftp's current directory or absolute).

Prints one JSON object: {"ok": bool, "error": str, "log": [lines], "listing": [names of every ls],
"listings": [[names] per ls], "replies": [[command words], [Reply lines]] per command, "hostkey": str, "hostkey_trusted": bool | null}.
The host key is trusted (once; fzsftp runs with an empty HOME, so nothing is cached) only if its fingerprint
is one of host_key_fingerprints (any key when that is null); "hostkey_trusted" is null if fzsftp never asked.
A command ends with Done (its Reply lines are then those seen before it, often none) or with a Reply: pwd
answers `Current directory is: "/"`, cd `New directory is: "/d"`, mtime the seconds since the epoch.

Protocol (fzsftp 3.63, protocol_version=11): every message from fzsftp is one event character ('0' + event
number) followed by a fixed number of text lines (0, 1, 2 or 3 by event). File data does not go through the
pipe: on io_open ('K') the driver answers with a memfd the child inherited ("-FD SIZE OFFSET"), on io_nextbuf
('L') with the next buffer inside it ("-OFF LEN", or "-" at the end of an upload), on io_finalize ('M') with
"-1". One buffer holds the whole file, so a transfer is one io_nextbuf each way.
"""
import json
import os
import subprocess
import sys
import tempfile

EVENT_NAMES = "Reply Done Error Verbose Info Status Recv Send Listentry AskHostkey AskHostkeyChanged " \
    "AskHostkeyBetteralg AskPassword Transfer RequestPreamble RequestInstruction UsedQuotaRecv " \
    "UsedQuotaSend KexAlgorithm KexHash KexCurve CipherClientToServer CipherServerToClient " \
    "MacClientToServer MacServerToClient Hostkey io_size io_open io_nextbuf io_finalize".split()
ZERO_LINES = {"UsedQuotaRecv", "UsedQuotaSend", "io_size"}
TWO_LINES = {"AskHostkey", "AskHostkeyChanged", "AskHostkeyBetteralg"}
THREE_LINES = {"Listentry"}
# Commands without file data, with their number of arguments.
SIMPLE = {"ls": 0, "pwd": 0, "cd": 1, "mtime": 1, "rm": 1, "mkdir": 1, "rmdir": 1, "mv": 2}


def quote(s):
    return '"' + s.replace('"', '""') + '"'


def main():
    spec = json.loads(sys.argv[1])
    shm_size = max(64 << 20, max((os.path.getsize(c[1]) for c in spec["commands"] if c[0] == "put"),
                                 default=0))
    fd = os.memfd_create("fzsftp-io", 0)
    os.ftruncate(fd, shm_size)
    # A HOME of its own: fzsftp keeps trusted host keys in ~/.putty/sshhostkeys, and one cached there would
    # skip the host key question. (It falls back to the passwd entry's home unless $HOME/.putty exists.)
    home = tempfile.TemporaryDirectory(prefix="fzsftp-home-")
    os.mkdir(os.path.join(home.name, ".putty"), 0o700)
    child = subprocess.Popen(["fzsftp", "-v"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             pass_fds=(fd,), bufsize=0, env=dict(os.environ, HOME=home.name))
    out = child.stdout
    log, listing, listings, replies = [], [], [], []
    result = {"ok": False, "error": "", "log": log, "listing": listing, "listings": listings,
              "replies": replies, "hostkey": "", "hostkey_trusted": None}
    io = {}  # the transfer in progress: {"dir": "put"|"get", "path": local, "data": bytearray, "sent": bool}

    def send(line):
        child.stdin.write((line + "\n").encode())
        child.stdin.flush()

    def read_line():
        line = out.readline()
        if not line:
            raise EOFError("fzsftp exited")
        return line.decode("utf-8", "replace").rstrip("\n")

    def next_event():
        """Reads one event, answers the ones that ask for something, returns (name, lines)."""
        while True:
            c = out.read(1)
            if not c:
                raise EOFError("fzsftp exited")
            n = c[0] - ord("0")
            if n < 0 or n >= len(EVENT_NAMES):
                log.append("?? unexpected byte %r" % c)
                continue
            name = EVENT_NAMES[n]
            count = 0 if name in ZERO_LINES else 2 if name in TWO_LINES else 3 if name in THREE_LINES else 1
            lines = [read_line() for _ in range(count)]
            log.append("%s %s" % (name, " | ".join(lines)))
            if os.environ.get("FZ_DEBUG"):
                print(log[-1], file=sys.stderr)
            if name == "UsedQuotaRecv":
                send("-0-")
            elif name == "UsedQuotaSend":
                send("-1-")
            elif name == "Hostkey":
                result["hostkey"] = lines[0]
            elif name in TWO_LINES:
                wanted = spec.get("host_key_fingerprints")
                trusted = not wanted or any(fp in result["hostkey"] for fp in wanted)
                result["hostkey_trusted"] = trusted
                send("n" if trusted else "")  # "n": trust once (FileZilla's "OK" without "Always")
            elif name == "AskPassword":
                send(spec.get("password") or "")
            elif name == "io_size":
                send("-%d" % (len(io["data"]) if io.get("dir") == "put" else 0))
            elif name == "io_open":
                if io.get("dir") == "put":
                    os.pwrite(fd, bytes(io["data"]), 0)
                send("-%d %d 0" % (fd, shm_size))
            elif name == "io_nextbuf":
                if io.get("dir") == "put":
                    if io.get("sent"):
                        send("-")
                    else:
                        io["sent"] = True
                        send("-0 %d" % len(io["data"]))
                else:
                    done = int(lines[0] or 0)
                    if done:
                        io["data"] += os.pread(fd, done, 0)
                    send("-0 %d" % shm_size)
            elif name == "io_finalize":
                if io.get("dir") == "get":
                    last = int(lines[0] or 0)
                    if last:
                        io["data"] += os.pread(fd, last, 0)
                    with open(io["path"], "wb") as f:
                        f.write(io["data"])
                send("-1")
            elif name == "Listentry":
                listing.append(lines[2])
                if listings:
                    listings[-1].append(lines[2])
            else:
                return name, lines

    def wait_done(what):
        """Waits for the end of a command; returns the Reply lines seen."""
        reply = []
        while True:
            name, lines = next_event()
            # A command ends with Done ("1": success) or, for those that answer with text, with Reply.
            if name == "Reply":
                return reply + lines
            if name == "Done":
                if lines[0] != "1":
                    raise RuntimeError("%s failed (Done %s)" % (what, lines[0]))
                return reply
            if name == "Error":
                log.append("error during %s" % what)

    try:
        while next_event()[0] != "Reply":
            pass
        if spec.get("keyfile"):
            send("keyfile " + quote(spec["keyfile"]))
            wait_done("keyfile")
        send("open %s %d" % (quote("%s@127.0.0.1" % spec["user"]), spec["port"]))
        wait_done("open")
        for cmd in spec["commands"]:
            op = cmd[0]
            if op == "put":
                with open(cmd[1], "rb") as f:
                    io.clear()
                    io.update({"dir": "put", "path": cmd[1], "data": f.read()})
                send("put %s %s" % (quote(cmd[1]), quote(cmd[2])))
            elif op == "get":
                io.clear()
                io.update({"dir": "get", "path": cmd[2], "data": bytearray()})
                send("get %s %s" % (quote(cmd[1]), quote(cmd[2])))
            elif op in SIMPLE and len(cmd) == SIMPLE[op] + 1:
                if op == "ls":
                    listings.append([])
                send(" ".join([op] + [quote(a) for a in cmd[1:]]))
            else:
                raise ValueError("unknown command or wrong arguments: %r" % (cmd,))
            replies.append([cmd, wait_done(" ".join(cmd))])
        send("exit")
        result["ok"] = True
    except Exception as e:  # the report says what went wrong; the runner judges
        result["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        try:
            child.stdin.close()
        except OSError:
            pass
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        home.cleanup()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
