#!/usr/bin/env python3
"""A malicious SSH/SFTP server for client tests (issue 22; used by crates/cli/tests/hostile_server.rs).

`hostile_server.py MODE` listens on 127.0.0.1 (a free port, printed as `PORT n` once listening) and serves
connections until killed. Every mode but stall-kex is a paramiko server with a fresh RSA host key,
password authentication (any user, password `peerpass`) and an SFTP subsystem over a small in-memory
tree (REALPATH of `.` is `/`); MODE says how it misbehaves:

  endless-readdir  OPENDIR of any path succeeds and every READDIR answers a NAME of 100 new entries
                   (f000000000, f000000001, ...), forever: never EOF. Nothing is listed in memory.
  silent-read      /file.bin (1 MiB) can be stat'ed and opened, but READ requests are never answered
                   (dropped); every other request still is.
  stall-kex        no SSH at all after the identification line `SSH-2.0-Stall_1.0`: whatever the client
                   sends is read and discarded, the connection stays open.
  window-overflow  an exec (or shell) request is accepted, then CHANNEL_DATA beyond the client's window
                   is sent (its initial window + 1 MiB, in packets of its maximum packet size).
  data-unopened    an exec (or shell) request is accepted, then CHANNEL_DATA for channel 4242, which the
                   client never opened, is sent.
  escapes          terminal escape sequences in everything the server chooses: the auth banner, an exec's
                   exit-signal error message, the names listed in /, and the message of a failed REMOVE
                   (every REMOVE fails with SSH_FX_FAILURE `no<ESC>[2Jway`). An exec writes one plain line,
                   then ends with exit-signal TERM.

In window-overflow and data-unopened, a client that ignores the offence gets, 5 s later, exit status 0 and
a closed channel (so a tolerant client ends with status 0 instead of hanging).
"""
import socket
import stat
import sys
import threading
import time
import traceback

import paramiko
import paramiko.common as c
from paramiko.message import Message
from paramiko.sftp import CMD_NAME, CMD_READ, CMD_READDIR, CMD_REMOVE

MODES = ["endless-readdir", "silent-read", "stall-kex", "window-overflow", "data-unopened", "escapes"]
PASSWORD = "peerpass"
NOW = int(time.time())

BANNER = "Welcome\x1b]0;pwned\x07 to a hostile server\x1b[2J\n"
TITLE_NAME = "title\x1b]0;pwned\x07"
RED_NAME = "red\x1b[31mtext"
REMOVE_MESSAGE = "no\x1b[2Jway"
SIGNAL_MESSAGE = "killed \x1b[31mred"
EXEC_LINE = b"hello from the hostile server\n"
BOGUS_CHANNEL = 4242


def log(text):
    print("hostile_server: %s" % text, file=sys.stderr, flush=True)


def tree_for(mode):
    """path -> file size, or None for a folder."""
    tree = {"/": None, "/hello.txt": 6}
    if mode == "silent-read":
        tree["/file.bin"] = 1 << 20
    if mode == "escapes":
        tree["/" + TITLE_NAME] = 3
        tree["/" + RED_NAME] = 4
        tree["/x"] = 1
    return tree


def attrs(name, size):
    a = paramiko.SFTPAttributes()
    a.filename = name
    if size is None:
        a.st_mode = stat.S_IFDIR | 0o755
        a.st_size = 4096
    else:
        a.st_mode = stat.S_IFREG | 0o644
        a.st_size = size
    a.st_uid = a.st_gid = 1000
    a.st_atime = a.st_mtime = NOW
    return a


def longname(name, size):
    return "-rw-r--r--    1 peer     peer     %8d Jan  1 00:00 %s" % (size, name)


class MemHandle(paramiko.SFTPHandle):
    def __init__(self, path, size):
        super().__init__(0)
        self.path = path
        self.size = size

    def read(self, offset, length):
        if offset >= self.size:
            return b""
        return b"\0" * min(length, self.size - offset)

    def write(self, offset, data):
        return paramiko.SFTP_PERMISSION_DENIED

    def stat(self):
        return attrs(self.path.rsplit("/", 1)[-1], self.size)

    def chattr(self, attr):
        return paramiko.SFTP_PERMISSION_DENIED


class MemSftp(paramiko.SFTPServerInterface):
    """A small read-only in-memory tree."""

    def __init__(self, server, *args, mode=None, **kwargs):
        super().__init__(server, *args, **kwargs)
        self.mode = mode
        self.tree = tree_for(mode)

    def canonicalize(self, path):
        parts = []
        for p in path.split("/"):
            if p in ("", "."):
                continue
            if p == "..":
                if parts:
                    parts.pop()
            else:
                parts.append(p)
        return "/" + "/".join(parts)

    def _lookup(self, path):
        path = self.canonicalize(path)
        if path not in self.tree:
            return path, paramiko.SFTP_NO_SUCH_FILE
        return path, self.tree[path]

    def list_folder(self, path):
        if self.mode == "endless-readdir":
            return []  # any path; READDIR is answered by HostileSftpServer
        path, size = self._lookup(path)
        if size == paramiko.SFTP_NO_SUCH_FILE:
            return size
        if size is not None:
            return paramiko.SFTP_NO_SUCH_FILE
        prefix = path.rstrip("/") + "/"
        out = []
        for p, s in self.tree.items():
            if p != path and p.startswith(prefix) and "/" not in p[len(prefix):]:
                out.append(attrs(p[len(prefix):], s))
        return out

    def stat(self, path):
        path, size = self._lookup(path)
        if size == paramiko.SFTP_NO_SUCH_FILE:
            return size
        return attrs(path.rsplit("/", 1)[-1] or "/", size)

    lstat = stat

    def open(self, path, flags, attr):
        path, size = self._lookup(path)
        if size == paramiko.SFTP_NO_SUCH_FILE:
            return paramiko.SFTP_PERMISSION_DENIED if flags & 3 else size
        if size is None:
            return paramiko.SFTP_FAILURE
        if flags & 3:  # O_WRONLY / O_RDWR: read-only tree
            return paramiko.SFTP_PERMISSION_DENIED
        return MemHandle(path, size)

    def remove(self, path):
        return paramiko.SFTP_PERMISSION_DENIED

    def rename(self, old, new):
        return paramiko.SFTP_PERMISSION_DENIED

    def mkdir(self, path, attr):
        return paramiko.SFTP_PERMISSION_DENIED

    def rmdir(self, path):
        return paramiko.SFTP_PERMISSION_DENIED

    def chattr(self, path, attr):
        return paramiko.SFTP_PERMISSION_DENIED


class HostileSftpServer(paramiko.SFTPServer):
    """paramiko's SFTP server with the mode's misbehaviour in front of its request dispatch."""

    def _process(self, t, request_number, msg):
        mode = self.server.mode
        if mode == "endless-readdir" and t == CMD_READDIR:
            handle = msg.get_binary()
            folder = self.folder_table.get(handle)
            if folder is None:
                self._send_status(request_number, paramiko.SFTP_FAILURE, "Invalid handle")
                return
            first = getattr(folder, "endless_next", 0)
            folder.endless_next = first + 100
            m = Message()
            m.add_int(request_number)
            m.add_int(100)
            for i in range(first, first + 100):
                name = "f%09d" % i
                m.add_string(name)
                m.add_string(longname(name, i))
                attrs(name, i)._pack(m)
            self._send_packet(CMD_NAME, m)
            return
        if mode == "silent-read" and t == CMD_READ:
            return  # never answered
        if mode == "escapes" and t == CMD_REMOVE:
            msg.get_text()
            self._send_status(request_number, paramiko.SFTP_FAILURE, REMOVE_MESSAGE)
            return
        super()._process(t, request_number, msg)


def send_raw(transport, build):
    m = Message()
    build(m)
    transport._send_user_message(m)


def channel_data(transport, recipient, data):
    def build(m):
        m.add_byte(c.cMSG_CHANNEL_DATA)
        m.add_int(recipient)
        m.add_string(data)
    send_raw(transport, build)


class Server(paramiko.ServerInterface):
    def __init__(self, mode, transport):
        self.mode = mode
        self.transport = transport

    def get_allowed_auths(self, username):
        return "password"

    def check_auth_password(self, username, password):
        return paramiko.AUTH_SUCCESSFUL if password == PASSWORD else paramiko.AUTH_FAILED

    def get_banner(self):
        if self.mode == "escapes":
            return BANNER, "en"
        return None, None

    def check_channel_request(self, kind, chanid):
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_pty_request(self, *args):
        return True

    def check_channel_env_request(self, *args):
        return True

    def check_channel_shell_request(self, channel):
        return self._start(channel)

    def check_channel_exec_request(self, channel, command):
        return self._start(channel)

    def _start(self, channel):
        if self.mode not in ("window-overflow", "data-unopened", "escapes"):
            return False
        # What the session sends must not overtake the answer to the request, which paramiko sends
        # after this returns: the worker waits for the patched _handle_request below.
        channel.hostile_request_answered = threading.Event()
        threading.Thread(target=self._run, args=(channel,), daemon=True).start()
        return True

    def _run(self, chan):
        t = self.transport
        try:
            chan.hostile_request_answered.wait(10)
            if self.mode == "window-overflow":
                window, packet = chan.out_window_size, chan.out_max_packet_size
                chunk = max(1, min(packet, 32768))
                total = window + (1 << 20)
                log("client window %d, max packet %d: sending %d bytes" % (window, packet, total))
                sent, start = 0, time.monotonic()
                while sent < total and t.is_active():
                    n = min(chunk, total - sent)
                    channel_data(t, chan.remote_chanid, b"w" * n)
                    sent += n
                log("sent %d bytes of channel data in %.2f s" % (sent, time.monotonic() - start))
            elif self.mode == "data-unopened":
                log("channel data for channel %d (the client's is %d)" % (BOGUS_CHANNEL, chan.remote_chanid))
                channel_data(t, BOGUS_CHANNEL, b"data for a channel nobody opened\n")
            else:  # escapes
                chan.sendall(EXEC_LINE)

                def exit_signal(m):
                    m.add_byte(c.cMSG_CHANNEL_REQUEST)
                    m.add_int(chan.remote_chanid)
                    m.add_string("exit-signal")
                    m.add_boolean(False)
                    m.add_string("TERM")
                    m.add_boolean(False)
                    m.add_string(SIGNAL_MESSAGE)
                    m.add_string("")
                send_raw(t, exit_signal)
                chan.shutdown_write()
                chan.close()
                return
            # A client that did not object: end the session normally a little later.
            for _ in range(50):
                if not t.is_active():
                    log("the client closed the connection")
                    return
                time.sleep(0.1)
            log("the client tolerated it: exit status 0")
            chan.send_exit_status(0)
            chan.shutdown_write()
            chan.close()
        except Exception:
            if t.is_active():
                traceback.print_exc()


_handle_request = paramiko.Channel._handle_request


def _handle_request_then_signal(self, m):
    _handle_request(self, m)
    answered = getattr(self, "hostile_request_answered", None)
    if answered is not None:
        answered.set()


paramiko.Transport._channel_handler_table[c.MSG_CHANNEL_REQUEST] = _handle_request_then_signal


def serve_paramiko(sock, mode, host_key):
    t = paramiko.Transport(sock)
    t.add_server_key(host_key)
    t.set_subsystem_handler("sftp", HostileSftpServer, MemSftp, mode=mode)
    try:
        t.start_server(server=Server(mode, t))
        while t.is_active():
            t.join(1)
    except Exception:
        traceback.print_exc()


def serve_stall(sock):
    try:
        sock.sendall(b"SSH-2.0-Stall_1.0\r\n")
        while sock.recv(65536):
            pass
    except OSError:
        pass
    finally:
        sock.close()


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in MODES:
        sys.exit("usage: hostile_server.py {%s}" % ",".join(MODES))
    mode = sys.argv[1]
    host_key = None if mode == "stall-kex" else paramiko.RSAKey.generate(2048)
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)
    print("PORT %d" % lsock.getsockname()[1], flush=True)
    while True:
        sock, _ = lsock.accept()
        if mode == "stall-kex":
            target, args = serve_stall, (sock,)
        else:
            target, args = serve_paramiko, (sock, mode, host_key)
        threading.Thread(target=target, args=args, daemon=True).start()


if __name__ == "__main__":
    main()
