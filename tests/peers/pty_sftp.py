#!/usr/bin/env python3
"""Drives `nacre sftp` on a pseudo-terminal as a person would, one scenario per run.

    pty_sftp.py SCENARIO NACRE PORT HOME LOCAL_DIR [EXTRA...]

The password comes from NACRE_PASSWORD in the environment; the client starts in LOCAL_DIR with
HOME=HOME. Scenarios:

  session   globs (`ls *.log`, `get *.log`), `get c.txt .`, TAB completion of a command, of a
            remote and of a local name, Ctrl-C at the prompt (a new prompt), Ctrl-C during
            `get big.bin` (`Interrupt`, the prompt again, the line typed ahead dropped, the next
            command works), the progress meter, `bye`.
  typeahead lines pasted at once at the prompt (`cd sub`, `pwd`, `get inner`, `cd /`,
            `get c.txt`) all run, in order; lines typed while a `get` runs (`lpwd`, `ls c.txt`)
            run after it, as OpenSSH's sftp runs them.
  refused   `put` into a folder the server refuses (`ro/`) and `get` of a file it does not let
            be read (`secret`): the error alone, no progress meter; then a `get` that works
            shows its meter.
  lost      `pwd`, then kills the server (EXTRA: its pid) and expects `Connection closed` and
            exit status 255.
  passphrase  EXTRA: key file, passphrase. Expects `Enter passphrase for key '...': `, types a
            wrong one then the right one, expects the prompt, `bye`.
  kbdint    expects keyboard-interactive prompts from the server (EXTRA: the answer), `bye`.

Prints `exit N`; on failure exits non-zero with what the terminal showed.
"""
import os
import re
import select
import signal
import sys
import time

scenario, exe, port, home, local = sys.argv[1:6]
extra = sys.argv[6:]
args = [exe, "sftp", "-P", port, "-o", "StrictHostKeyChecking=no"]
if scenario == "passphrase":
    args += ["-i", extra[0], "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no"]
if scenario == "kbdint":
    args += ["-o", "PreferredAuthentications=keyboard-interactive"]
args.append("peer@127.0.0.1")

pid, fd = os.forkpty()
if pid == 0:
    os.chdir(local)
    env = dict(os.environ, HOME=home, TERM="xterm", COLUMNS="80")
    env.pop("SSH_AUTH_SOCK", None)
    if scenario in ("passphrase", "kbdint"):
        env.pop("NACRE_PASSWORD", None)
    os.execve(exe, args, env)

seen = b""
pending = b""


def fail(why):
    sys.exit("%s; the terminal showed:\n%s" % (why, seen.decode(errors="replace")))


def expect(text, timeout=30):
    global seen, pending
    end = time.time() + timeout
    while text.encode() not in pending:
        ready, _, _ = select.select([fd], [], [], max(0.0, end - time.time()))
        if not ready:
            fail("timeout waiting for %r" % text)
        try:
            data = os.read(fd, 65536)
        except OSError:
            fail("end of output waiting for %r" % text)
        seen += data
        pending += data
    before = pending[: pending.index(text.encode())]
    pending = pending[pending.index(text.encode()) + len(text):]
    return before.decode(errors="replace")


def send(text):
    os.write(fd, text.encode())


def finish(expected_status):
    global seen
    end = time.time() + 30
    while time.time() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            if code != expected_status:
                fail("exit status %d, expected %d" % (code, expected_status))
            print("exit", code)
            if os.environ.get("PTY_SHOW"):
                print(seen.decode(errors="replace"))
            return
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                pass
    fail("the client did not end")


def fresh_prompt(timeout=30):
    """The prompt of a new line: the editor also redraws `sftp> ` with the line being edited
    (after TAB or Ctrl-U), from the start of the same line; a new prompt follows a newline."""
    global seen, pending
    end = time.time() + timeout
    new_line = re.compile(rb"\n(?:\r|\x1b\[[0-9;]*[A-Za-z])*sftp> ")
    while True:
        m = new_line.search(pending)
        if m:
            pending = pending[m.end():]
            return
        ready, _, _ = select.select([fd], [], [], max(0.0, end - time.time()))
        if not ready:
            fail("timeout waiting for a new prompt")
        try:
            data = os.read(fd, 65536)
        except OSError:
            fail("end of output waiting for a new prompt")
        seen += data
        pending += data


def session():
    expect("sftp> ")
    send("ls *.log\n")
    out = expect("sftp> ")
    if "a.log" not in out or "b.log" not in out or "c.txt" in out:
        fail("ls *.log listed %r" % out)
    send("get *.log\n")
    expect("Fetching /")
    expect("sftp> ")
    send("get c.txt .\n")
    expect("sftp> ")
    for name in ("a.log", "b.log", "c.txt"):
        if not os.path.exists(os.path.join(local, name)):
            fail("%s was not fetched" % name)
    # Completion: a command, a remote name (unique prefix), a local name.
    send("pro\t")
    expect("progress")
    send("\x15")  # Ctrl-U: clear the line
    send("get uniq\t")
    expect("unique-remote.txt")
    send("\x15")
    send("put local-on\t")
    expect("local-only.txt")
    send("\x15\n")
    fresh_prompt()
    # Ctrl-C at the prompt: nothing happens but a new prompt.
    send("some text\x03")
    fresh_prompt()
    send("pwd\n")
    expect("Remote working directory: /")
    expect("sftp> ")
    # Ctrl-C during a large download: back to the prompt, the connection kept.
    # `pwd` typed ahead goes with the interrupted get, as in OpenSSH's sftp.
    send("get big.bin\rpwd\r")
    expect("Fetching /big.bin")
    expect("%")  # the progress meter
    time.sleep(0.3)
    send("\x03")
    expect("Interrupt")
    send("ls c.txt\r")
    out = expect("\nc.txt")
    if "Remote working directory" in out:
        fail("a line typed ahead ran after Ctrl-C: %r" % out)
    expect("sftp> ")
    send("bye\n")
    finish(0)


def lost():
    expect("sftp> ")
    send("pwd\n")
    expect("sftp> ")
    os.kill(int(extra[0]), signal.SIGKILL)
    expect("Connection closed")
    finish(255)


def passphrase():
    expect("Enter passphrase for key '%s': " % extra[0])
    send("wrong passphrase\n")
    expect("Enter passphrase for key '%s': " % extra[0])
    send(extra[1] + "\n")
    expect("sftp> ")
    if extra[1].encode() in seen:
        fail("the passphrase was echoed")
    send("bye\n")
    finish(0)


def kbdint():
    expect("(peer@127.0.0.1) Password: ")
    send(extra[0] + "\n")
    expect("sftp> ")
    send("bye\n")
    finish(0)


def typeahead():
    expect("sftp> ")
    # Pasted at once (a terminal sends Enter as CR).
    send("cd sub\rpwd\rget inner\rcd /\rget c.txt\r")
    expect("Remote working directory: /sub")
    expect("Fetching /sub/inner to inner")
    expect("Fetching /c.txt to c.txt")
    expect("sftp> ")
    # Typed while a download runs.
    send("get mid.bin\r")
    expect("Fetching /mid.bin")
    send("lpwd\rls unique-remote.txt\r")
    out = expect("Local working directory: %s" % local)
    if "100%" not in out or "\r\n\r\n" in out:
        fail("get mid.bin printed %r" % out)
    expect("\nunique-remote.txt")  # the listing, not the echo of the line
    expect("sftp> ")
    for name in ("inner", "c.txt", "mid.bin"):
        if not os.path.exists(os.path.join(local, name)):
            fail("%s was not fetched" % name)
    send("bye\r")
    finish(0)


def refused():
    expect("sftp> ")
    send("put up.txt ro/up.txt\r")
    out = expect("sftp> ")
    if 'dest open "/ro/up.txt": Permission denied' not in out or "%" in out:
        fail("put into ro/ printed %r" % out)
    send("get secret\r")
    out = expect("sftp> ")
    if 'remote open("/secret"): Permission denied' not in out or "%" in out:
        fail("get secret printed %r" % out)
    send("get c.txt\r")
    out = expect("sftp> ")
    if "100%" not in out:
        fail("get c.txt printed %r" % out)
    send("bye\r")
    finish(0)


{"session": session, "typeahead": typeahead, "refused": refused, "lost": lost, "passphrase": passphrase, "kbdint": kbdint}[scenario]()
