#!/usr/bin/env python3
"""Runs `nacre ssh` on a pseudo-terminal and types as a person would.

    pty_ssh.py SCENARIO NACRE PORT HOME [NACRE_ARGS...]

NACRE_ARGS come before `peer@127.0.0.1` (keys, known_hosts, -e ...); the password, when one is
needed, is in NACRE_PASSWORD. Scenarios:

- escapes: a shell with a pty (`tty` names /dev/pts), `~?` lists the escapes, `~~hello` sends
  `~hello` (to cat), `~B` sends a BREAK (the session goes on), `~.` disconnects: `Connection to 127.0.0.1 closed.`, exit 255.
- exit: `exit 3` ends the shell: `Connection to 127.0.0.1 closed.`, exit 3.
- percent: with `-e %` (or EscapeChar %) `~.` is typed through, `%.` disconnects (exit 255).
- none: with `-e none` `~.` is typed through, `exit 4` ends (exit 4).

Prints `exit N`; on failure, what the terminal showed.
"""
import os
import select
import sys
import time

scenario, exe, port, home = sys.argv[1:5]
extra = sys.argv[5:]
pid, fd = os.forkpty()
if pid == 0:
    env = dict(os.environ, HOME=home, TERM="xterm")
    env.pop("SSH_AUTH_SOCK", None)
    argv = [exe, "ssh", "-p", port, "-o", "StrictHostKeyChecking=no"] + extra + ["peer@127.0.0.1"]
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


typed("echo mark-$((6*7))\r")
expect("mark-42")
if scenario == "escapes":
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
else:
    sys.exit("unknown scenario " + scenario)
finish()
