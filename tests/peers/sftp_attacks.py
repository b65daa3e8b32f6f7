#!/usr/bin/env python3
"""An authenticated SFTP user attacking the server's privileges, through paramiko's raw requests.

    sftp_attacks.py PORT USER PASSWORD

Each attack is one or a few SFTP requests; the script prints one JSON object mapping the attack's
name to "ok" or "denied: <the server's status or error>". The test that runs it (crates/cli/tests/
serve_privileges.rs) prepares the operator's files beforehand and checks the files on disk after:
what the server answered matters less than what it did.

Paths are relative to the served folder, which the user owns; the operator's files in it:
op_secret (root:root 0600), op_readonly (root:root 0444), op_file (root:root 0644), op_dir/
(root:root 0755) holding op_dir/theirs (root:root 0644).
"""
import json
import sys

import paramiko
from paramiko.sftp import (
    CMD_EXTENDED,
    CMD_OPEN,
    SFTP_FLAG_CREATE,
    SFTP_FLAG_READ,
    SFTP_FLAG_TRUNC,
    SFTP_FLAG_WRITE,
)
from paramiko.sftp_attr import SFTPAttributes
from paramiko.sftp_file import SFTPFile

DATA = b"#!/bin/sh\nid\n"


def open_with_mode(sftp, path, flags, mode=None):
    """SSH_FXP_OPEN with the attributes a client chooses (paramiko's open() sends none)."""
    attrs = SFTPAttributes()
    if mode is not None:
        attrs.st_mode = mode
    kind, msg = sftp._request(CMD_OPEN, path, flags, attrs)
    return SFTPFile(sftp, msg.get_binary(), "r+")


def write_new(sftp, path, mode=None):
    f = open_with_mode(sftp, path, SFTP_FLAG_WRITE | SFTP_FLAG_CREATE | SFTP_FLAG_TRUNC, mode)
    f.write(DATA)
    f.close()


def attacks(sftp, uid, gid):
    def fsetstat_setuid():
        f = open_with_mode(sftp, "up_fsetstat", SFTP_FLAG_WRITE | SFTP_FLAG_CREATE | SFTP_FLAG_TRUNC)
        f.write(DATA)
        f.chmod(0o4755)
        f.close()

    def read(path):
        f = open_with_mode(sftp, path, SFTP_FLAG_READ)
        data = f.read()
        f.close()
        return data

    def overwrite(path):
        f = open_with_mode(sftp, path, SFTP_FLAG_WRITE | SFTP_FLAG_TRUNC)
        f.write(b"overwritten")
        f.close()

    def hardlink_and_read():
        sftp._request(CMD_EXTENDED, "hardlink@openssh.com", "op_secret", "my_hardlink")
        read("my_hardlink")

    def symlink_and_read():
        sftp.symlink("op_secret", "my_symlink")
        read("my_symlink")

    def setid_on_upload():
        write_new(sftp, "up_setstat")
        sftp.chmod("up_setstat", 0o6755)

    return [
        ("open_creat_mode_4755", lambda: write_new(sftp, "up_open", 0o4755)),
        ("setstat_6755_on_upload", setid_on_upload),
        ("fsetstat_4755_on_upload", fsetstat_setuid),
        ("chown_upload_to_root", lambda: sftp.chown("up_setstat", 0, 0)),
        ("chown_operator_file_to_user", lambda: sftp.chown("op_file", uid, gid)),
        ("setstat_4755_operator_file", lambda: sftp.chmod("op_file", 0o4755)),
        ("setstat_times_operator_file", lambda: sftp.utime("op_file", (1, 1))),
        ("setstat_size_operator_file", lambda: sftp.truncate("op_file", 0)),
        ("read_operator_0600", lambda: read("op_secret")),
        ("overwrite_operator_0444", lambda: overwrite("op_readonly")),
        ("create_in_operator_dir", lambda: write_new(sftp, "op_dir/new")),
        ("mkdir_in_operator_dir", lambda: sftp.mkdir("op_dir/sub")),
        ("remove_in_operator_dir", lambda: sftp.remove("op_dir/theirs")),
        ("rename_into_operator_dir", lambda: sftp.posix_rename("up_open", "op_dir/theirs")),
        ("hardlink_to_operator_0600", hardlink_and_read),
        ("symlink_to_operator_0600", symlink_and_read),
    ]


def main():
    port, user, password, uid, gid = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
    transport = paramiko.Transport(("127.0.0.1", int(port)))
    transport.connect(username=user, password=password)
    sftp = paramiko.SFTPClient.from_transport(transport)
    results = {}
    for name, attack in attacks(sftp, int(uid), int(gid)):
        try:
            attack()
            results[name] = "ok"
        except (IOError, OSError, paramiko.SFTPError) as e:
            results[name] = "denied: %s" % (e,)
    sftp.close()
    transport.close()
    print(json.dumps(results, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
