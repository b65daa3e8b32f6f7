#!/usr/bin/env python3
"""Runs `nacre sftp` on a pseudo-terminal and answers its password prompt as a person would.

    pty_password.py NACRE PORT HOME WRONG RIGHT [--ask-host-key]

With --ask-host-key, the host key is unknown and checked the default way (ask): expects
OpenSSH's question, answers `maybe` (asked again), then `yes`, and expects the key added. Then
expects `peer@127.0.0.1's password: `, types WRONG, expects `Permission denied, please try
again.` and the prompt again, types RIGHT, expects `sftp> `, runs `pwd` and `bye`. Prints
`exit N` and, on failure, what the terminal showed. Nothing typed is echoed by a correct
client: the script checks that neither password appears in what the terminal showed.
"""
import os
import select
import sys
import time

exe, port, home, wrong, right = sys.argv[1:6]
ask_host_key = "--ask-host-key" in sys.argv[6:]
pid, fd = os.forkpty()
if pid == 0:
    env = dict(os.environ, HOME=home)
    env.pop("SSH_AUTH_SOCK", None)
    env.pop("NACRE_PASSWORD", None)
    check = [] if ask_host_key else ["-o", "StrictHostKeyChecking=no"]
    os.execve(exe, [exe, "sftp", "-P", port] + check + ["peer@127.0.0.1"], env)

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


if ask_host_key:
    expect("can't be established.")
    expect("Are you sure you want to continue connecting (yes/no/[fingerprint])? ")
    os.write(fd, b"maybe\n")
    expect("Please type 'yes', 'no' or the fingerprint: ")
    os.write(fd, b"yes\n")
    expect("to the list of known hosts.")
expect("peer@127.0.0.1's password: ")
os.write(fd, wrong.encode() + b"\n")
expect("Permission denied, please try again.")
expect("peer@127.0.0.1's password: ")
os.write(fd, right.encode() + b"\n")
expect("sftp> ")
os.write(fd, b"pwd\n")
expect("Remote working directory: /")
os.write(fd, b"bye\n")
_, status = os.waitpid(pid, 0)
if wrong.encode() in seen or right.encode() in seen:
    sys.exit("a password was echoed: %r" % seen)
print("exit", os.waitstatus_to_exitcode(status))
