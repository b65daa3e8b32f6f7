#!/usr/bin/env python3
"""Runs a command and reports its wall time and the CPU time of its whole process tree.

    timed.py OUT COMMAND [ARGS...]

Writes "WALL_SECONDS CPU_SECONDS EXIT_CODE" to OUT. CPU is user + system time of the command and of every
descendant it waited for (getrusage(RUSAGE_CHILDREN), the kernel's cutime + cstime as /proc/PID/stat shows
them): OpenSSH's sftp and the ssh it starts, or the nacre program. The command's output goes where this
program's goes. Used by scripts/bench.
"""
import os
import resource
import subprocess
import sys
import time


def main() -> int:
    out, cmd = sys.argv[1], sys.argv[2:]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    code = subprocess.call(cmd)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with open(out, "w", encoding="ascii") as f:
        f.write(f"{wall:.6f} {cpu:.6f} {code}\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
