#!/usr/bin/env python3
"""Runs `nacre keygen` on a pseudo-terminal and answers its questions as a person would.

    pty_keygen.py NACRE HOME

First run (`keygen -t ed25519 -C pty@test`): expects `Generating public/private ed25519 key
pair.`, the file question with HOME/.ssh/id_ed25519 as default (Enter takes it), `Created
directory`, the passphrase asked twice (two different ones: `Passphrases do not match.  Try
again.`, then `pw-typed` twice, never echoed), the saved lines and the randomart. Second run (Enter at the file question):
`... already exists.` / `Overwrite (y/n)? `, answered `n`: exit 1. Prints what the first run
showed (\\r\\n made \\n) between `--- first` and `--- end`, then `exit N` of each run.
"""
import os
import select
import sys
import time

exe, home = sys.argv[1:3]


def spawn():
    pid, fd = os.forkpty()
    if pid == 0:
        env = dict(os.environ, HOME=home)
        os.execve(exe, [exe, "keygen", "-t", "ed25519", "-C", "pty@test"], env)
    return pid, fd


class Term:
    def __init__(self):
        self.pid, self.fd = spawn()
        self.seen = b""
        self.pending = b""

    def expect(self, text, timeout=30):
        end = time.time() + timeout
        while text.encode() not in self.pending:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, end - time.time()))
            if not ready:
                sys.exit("timeout waiting for %r; the terminal showed %r" % (text, self.seen))
            try:
                data = os.read(self.fd, 4096)
            except OSError:
                sys.exit("end of output waiting for %r; the terminal showed %r" % (text, self.seen))
            self.seen += data
            self.pending += data
        self.pending = self.pending[self.pending.index(text.encode()) + len(text):]

    def typed(self, text):
        os.write(self.fd, text.encode())

    def finish(self):
        while True:
            ready, _, _ = select.select([self.fd], [], [], 10)
            if not ready:
                break
            try:
                data = os.read(self.fd, 4096)
            except OSError:
                break
            if not data:
                break
            self.seen += data
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)


t = Term()
t.expect("Generating public/private ed25519 key pair.")
t.expect("Enter file in which to save the key (%s/.ssh/id_ed25519): " % home)
t.typed("\r")
t.expect("Created directory '%s/.ssh'." % home)
t.expect("Enter passphrase (empty for no passphrase): ")
t.typed("one-typed\r")
t.expect("Enter same passphrase again: ")
t.typed("two-typed\r")
t.expect("Passphrases do not match.  Try again.")
t.expect("Enter passphrase (empty for no passphrase): ")
t.typed("pw-typed\r")
t.expect("Enter same passphrase again: ")
t.typed("pw-typed\r")
t.expect("The key's randomart image is:")
first = t.finish()
if b"-typed" in t.seen:
    sys.exit("a passphrase was echoed: %r" % t.seen)
print("--- first")
print(t.seen.decode().replace("\r\n", "\n"), end="")
print("--- end")
print("exit", first)

t = Term()
t.expect("Enter file in which to save the key (%s/.ssh/id_ed25519): " % home)
t.typed("\r")
t.expect("%s/.ssh/id_ed25519 already exists." % home)
t.expect("Overwrite (y/n)? ")
t.typed("n\r")
print("exit", t.finish())
