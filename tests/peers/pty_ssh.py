#!/usr/bin/env python3
"""Runs `nacre ssh` on a pseudo-terminal and types as a person would.

    pty_ssh.py SCENARIO NACRE PORT HOME [NACRE_ARGS...]

NACRE_ARGS come before `peer@127.0.0.1` (keys, known_hosts, -e ...); the password, when one is
needed, is in NACRE_PASSWORD. Scenarios:

- escapes: a shell with a pty (`tty` names /dev/pts), `~?` lists the escapes, `~~hello` sends
  `~hello` (to cat), `~B` sends a BREAK (the session goes on), `~#` lists the channels, `~.` disconnects: `Connection to 127.0.0.1 closed.`, exit 255.
- hostkeys: without `StrictHostKeyChecking=no`; `UpdateHostKeys ask`: the question is answered
  `maybe` (asked again), then `$PTY_ANSWER` (default `yes`); `exit 5` ends the shell.
- exit: `exit 3` ends the shell: `Connection to 127.0.0.1 closed.`, exit 3.
- percent: with `-e %` (or EscapeChar %) `~.` is typed through, `%.` disconnects (exit 255).
- none: with `-e none` `~.` is typed through, `exit 4` ends (exit 4).
- cmdline: `~C` opens `ssh> `: `?` lists the commands, `-L`, `-R` and `-D` add forwards to the
  server's own port (each then carries its SSH banner), `-KL`, `-KR`, `-KD` cancel them (their
  ports then refuse), a second `-KL` is `Unknown port forwarding.`, `bogus` is `Invalid
  command.`; the shell goes on, `exit 6` ends (exit 6). The server must allow forwarding.

Prints `exit N`; on failure, what the terminal showed.
"""
import os
import select
import socket
import sys
import time

scenario, exe, port, home = sys.argv[1:5]
extra = sys.argv[5:]
pid, fd = os.forkpty()
if pid == 0:
    env = dict(os.environ, HOME=home, TERM="xterm")
    env.pop("SSH_AUTH_SOCK", None)
    strict = [] if scenario == "hostkeys" else ["-o", "StrictHostKeyChecking=no"]
    argv = [exe, "ssh", "-p", port] + strict + extra + ["peer@127.0.0.1"]
    os.execve(exe, argv, env)

seen = b""
pending = b""


def expect(text, timeout=30):
    global seen, pending
    end = time.time() + timeout
    while text.encode() not in pending:
        ready, _, _ = select.select([fd], [], [], max(0.0, end - time.time()))
        if not ready:
            sys.exit("timeout waiting for %r; the terminal showed %r" % (text, seen))
        try:
            data = os.read(fd, 4096)
        except OSError:
            sys.exit("end of output waiting for %r; the terminal showed %r" % (text, seen))
        seen += data
        pending += data
    pending = pending[pending.index(text.encode()) + len(text):]


def typed(text):
    os.write(fd, text.encode())


def finish():
    # Read what is left so the child is not blocked on a full terminal.
    while True:
        ready, _, _ = select.select([fd], [], [], 10)
        if not ready:
            break
        try:
            if not os.read(fd, 4096):
                break
        except OSError:
            break
    _, status = os.waitpid(pid, 0)
    print("exit", os.waitstatus_to_exitcode(status))
    if os.environ.get("PTY_SHOW"):
        print(seen.decode(errors="replace"))


if scenario == "hostkeys":
    # UpdateHostKeys ask: ssh's preamble and question before the shell starts.
    expect("The server has updated its host keys.")
    expect("Learned new hostkey: ECDSA SHA256:")
    expect("Accept updated hostkeys? (yes/no): ")
    typed("maybe\r")
    expect('Please enter "yes" or "no"')
    expect("Accept updated hostkeys? (yes/no): ")
    typed(os.environ.get("PTY_ANSWER", "yes") + "\r")
typed("echo mark-$((6*7))\r")
expect("mark-42")
if scenario == "hostkeys":
    typed("exit 5\r")
    expect("Connection to 127.0.0.1 closed.")
elif scenario == "escapes":
    typed("tty\r")
    expect("/dev/pts/")
    typed("~?")
    expect("Supported escape sequences:")
    expect("~.   - terminate connection")
    expect("(Note that escapes are only recognized immediately after newline.)")
    typed("cat\r")
    time.sleep(0.5)
    typed("~~hello\r")
    expect("~hello")  # the remote terminal's echo
    expect("~hello")  # cat's copy
    typed("\x04")
    typed("\r")
    typed("~B")  # not typed through: the echo below would then fail as `~Becho`
    expect("~B")
    typed("~#")  # still at the start of a line
    expect("The following connections are open:")
    expect("  #0 session (remote ")
    typed("echo mark-$((7*7))\r")
    expect("mark-49")
    typed("~.")
    expect("Connection to 127.0.0.1 closed.")
elif scenario == "exit":
    typed("exit 3\r")
    expect("Connection to 127.0.0.1 closed.")
elif scenario == "percent":
    typed("~.\r")
    typed("echo mark-$((7*7))\r")
    expect("mark-49")
    typed("%.")
    expect("Connection to 127.0.0.1 closed.")
elif scenario == "none":
    typed("~.\r")
    typed("echo mark-$((7*7))\r")
    expect("mark-49")
    typed("exit 4\r")
    expect("Connection to 127.0.0.1 closed.")
elif scenario == "cmdline":
    def free_port():
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        return p

    def banner(p, socks=False):
        c = socket.create_connection(("127.0.0.1", p), timeout=10)
        if socks:
            c.sendall(b"\x05\x01\x00")
            if c.recv(2) != b"\x05\x00":
                sys.exit("SOCKS: no method; the terminal showed %r" % seen)
            c.sendall(b"\x05\x01\x00\x01\x7f\x00\x00\x01" + int(port).to_bytes(2, "big"))
            if c.recv(10)[:2] != b"\x05\x00":
                sys.exit("SOCKS: refused; the terminal showed %r" % seen)
        data = c.recv(64)
        c.close()
        if not data.startswith(b"SSH-2.0-"):
            sys.exit("port %d carried %r; the terminal showed %r" % (p, data, seen))

    def refused(p):
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", p), timeout=5).close()
            except OSError:
                return
            time.sleep(0.1)
        sys.exit("port %d still open; the terminal showed %r" % (p, seen))

    def command(line, answer):
        typed("~C")
        expect("ssh> ")
        typed(line + "\r")
        expect(answer)

    lport, rport, dport = free_port(), free_port(), free_port()
    command("?", "-KD[bind_address:]port                 Cancel dynamic forward")
    command("-L%d:127.0.0.1:%s" % (lport, port), "Forwarding port.")
    banner(lport)
    command("-R%d:127.0.0.1:%s" % (rport, port), "Forwarding port.")
    banner(rport)
    command("-D%d" % dport, "Forwarding port.")
    banner(dport, socks=True)
    command("-KL%d" % lport, "Canceled forwarding.")
    refused(lport)
    command("-KL%d" % lport, "Unknown port forwarding.")
    command("-KR%d" % rport, "Canceled forwarding.")
    refused(rport)
    command("-KD%d" % dport, "Canceled forwarding.")
    refused(dport)
    command("bogus", "Invalid command.")
    typed("echo mark-$((8*8))\r")
    expect("mark-64")
    typed("exit 6\r")
    expect("Connection to 127.0.0.1 closed.")
else:
    sys.exit("unknown scenario " + scenario)
finish()
