#!/usr/bin/env python3
"""Runs `nacre ssh -f ARGS...` on a pseudo-terminal and answers its password prompt as a person
would: `-f` goes to the background only after authentication, so the question is asked first.

    pty_fork.py NACRE PORT HOME PASSWORD ARGS...

Expects `peer@127.0.0.1's password: `, types PASSWORD, then expects the program to end at once
(the background process goes on). Prints `exit N` and, on failure, what the terminal showed.
"""
import os
import select
import sys
import time

exe, port, home, password = sys.argv[1:5]
args = sys.argv[5:]
pid, fd = os.forkpty()
if pid == 0:
    env = dict(os.environ, HOME=home)
    env.pop("SSH_AUTH_SOCK", None)
    env.pop("NACRE_PASSWORD", None)
    os.execve(
        exe,
        [exe, "ssh", "-p", port, "-o", "StrictHostKeyChecking=no", "-f"] + args,
        env,
    )

seen = b""


def expect(text, timeout=30):
    global seen
    end = time.time() + timeout
    while text.encode() not in seen:
        ready, _, _ = select.select([fd], [], [], max(0.0, end - time.time()))
        if not ready:
            sys.exit("timeout waiting for %r; the terminal showed %r" % (text, seen))
        try:
            data = os.read(fd, 4096)
        except OSError:
            sys.exit("end of output waiting for %r; the terminal showed %r" % (text, seen))
        seen += data


expect("peer@127.0.0.1's password: ")
os.write(fd, password.encode() + b"\n")
end = time.time() + 30
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    if time.time() > end:
        sys.exit("nacre ssh -f did not go to the background; the terminal showed %r" % seen)
    ready, _, _ = select.select([fd], [], [], 0.05)
    if ready:
        try:
            seen += os.read(fd, 4096)
        except OSError:
            pass
if password.encode() in seen:
    sys.exit("the password was echoed: %r" % seen)
print("exit", os.waitstatus_to_exitcode(status))
