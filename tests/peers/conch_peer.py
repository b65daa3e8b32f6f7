#!/usr/bin/env python3
"""Twisted Conch as an interop peer of nacre, client or server (used by tests/tests/interop_matrix.rs).

Same protocol as tests/peers/asyncssh_peer.py:

Client: `conch_peer.py client` reads JSON cases from stdin, one per line, runs each on a new connection and
prints one JSON result per line ({"name", "port", "user", "password", "key", "host_keys", "algs",
"rekey_bytes", "exec", "sftp"} -> {"name", "ok", "error", "exit_status", "stdout", "negotiated"}).
SFTP: twisted.conch.ssh.filetransfer.FileTransferClient, writes and reads of 32 KiB, 16 in flight.
Conch has no rekey limit: with "rekey_bytes" the transport calls sendKexInit() itself after that many bytes
of packets sent or received since the last exchange.

Server: `conch_peer.py server --host-key PATH... --authorized-keys FILE --password PW --root DIR [--rekey]`
listens on 127.0.0.1 (free port, printed as `PORT n`), authenticates `peer` by password or authorized key,
runs exec requests with /bin/sh (SSHSessionProcessProtocol: stdout, stderr, exit status), serves SFTP with
Conch's own SFTP server (twisted.conch.unix.SFTPServerForUnixConchUser) confined to --root, and with --rekey
starts a key re-exchange after every MiB. Every algorithm Conch implements is offered.
"""
import argparse
import base64
import json
import os
import sys

from twisted.conch import avatar, unix
from twisted.conch.checkers import InMemorySSHKeyDB, SSHPublicKeyChecker
from twisted.conch.interfaces import ISession, ISFTPServer
from twisted.conch.ssh import (channel, common, connection, factory, filetransfer, keys, session,
                               transport, userauth)
from twisted.cred import portal
from twisted.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse
from twisted.internet import defer, protocol, reactor, threads
from twisted.python import components, filepath
from zope.interface import implementer

T = transport.SSHTransportBase
SUPPORTED = {
    "kex": [a.decode() for a in T.supportedKeyExchanges],
    # Twisted 26.10 implements mlkem768x25519-sha256 in its server only: SSHClientTransport.ssh_KEXINIT has
    # no branch for hybrid methods and sends KEX_DH_GEX_REQUEST (34) instead of the hybrid init (30).
    "client_lacks": {"mlkem768x25519-sha256": "Twisted Conch's client does not implement it (its "
                     "SSHClientTransport.ssh_KEXINIT has no branch for hybrid methods and sends "
                     "KEX_DH_GEX_REQUEST, message 34, where the hybrid init, 30, belongs; its server does)"},
    "cipher": [a.decode() for a in T.supportedCiphers],
    "mac": [a.decode() for a in T.supportedMACs],
    "hostkey": [a.decode() for a in T.supportedPublicKeys if a != b"ssh-dss"],
}
CHUNK = 32 * 1024
IN_FLIGHT = 16


class RekeyByBytes:
    """Mixed into a transport: sendKexInit() after `rekey_bytes` bytes of packets either way."""

    rekey_bytes = None
    _since = 0
    rekeys = 0

    def _count(self, n):
        if not self.rekey_bytes:
            return
        self._since += n
        if (self._since >= self.rekey_bytes and self._keyExchangeState == self._KEY_EXCHANGE_NONE
                and self.sessionID is not None):
            self._since = 0
            self.rekeys += 1
            self.sendKexInit()

    def sendPacket(self, messageType, payload):
        super().sendPacket(messageType, payload)
        self._count(len(payload))

    def dispatchMessage(self, messageNum, payload):
        super().dispatchMessage(messageNum, payload)
        self._count(len(payload))


# ---------------------------------------------------------------------------------------------- client


class Session(channel.SSHChannel):
    """A session channel running `command`, or the `subsystem` (then `opened` fires with an SFTP client).
    `closed_d` fires when the server closes it (SSHChannel's own `closed` is a hook)."""

    name = b"session"

    def __init__(self, command=None, subsystem=None, **kw):
        super().__init__(**kw)
        self.command = command
        self.subsystem = subsystem
        self.opened = defer.Deferred()
        self.closed_d = defer.Deferred()
        self.out = b""
        self.status = None

    def channelOpen(self, _data):
        if self.command is not None:
            d = self.conn.sendRequest(self, b"exec", common.NS(self.command.encode()), wantReply=True)
            d.addCallback(lambda _: self.conn.sendEOF(self))
        else:
            d = self.conn.sendRequest(self, b"subsystem", common.NS(self.subsystem), wantReply=True)
            d.addCallback(self._subsystem)
        d.addErrback(self._fail)

    def _subsystem(self, _):
        client = filetransfer.FileTransferClient()
        client.makeConnection(self)
        self.dataReceived = client.dataReceived
        self.opened.callback(client)

    def _fail(self, f):
        if not self.opened.called:
            self.opened.errback(f)
        if not self.closed_d.called:
            self.closed_d.errback(f)

    def openFailed(self, reason):
        self._fail(reason)

    def dataReceived(self, data):
        self.out += data

    def request_exit_status(self, data):
        self.status = int.from_bytes(data[:4], "big")

    def closeReceived(self):
        super().closeReceived()
        if not self.closed_d.called:
            self.closed_d.callback(self)


class ClientConnection(connection.SSHConnection):
    def __init__(self, ready):
        super().__init__()
        self.ready = ready

    def serviceStarted(self):
        super().serviceStarted()
        self.ready.callback(self)


class ClientAuth(userauth.SSHUserAuthClient):
    def __init__(self, case, conn):
        super().__init__(case["user"].encode(), conn)
        self.case = case
        if case.get("key"):
            self.key = keys.Key.fromFile(case["key"])
            self.preferredOrder = [b"publickey"]
        else:
            self.key = None
            self.preferredOrder = [b"password"]

    def getPassword(self, prompt=None):
        if self.key is not None or self.case.get("password") is None:
            return None
        return defer.succeed(self.case["password"].encode())

    def getPublicKey(self):
        if self.key is None or getattr(self, "_key_sent", False):
            return None
        self._key_sent = True
        return self.key.public()

    def getPrivateKey(self):
        return defer.succeed(self.key)


class ClientTransport(RekeyByBytes, transport.SSHClientTransport):
    def __init__(self, case, ready, failed):
        self.case = case
        self.ready = ready
        self.failed = failed
        self.trusted = [base64.b64decode(line.split()[1]) for line in case.get("host_keys") or []]
        algs = case.get("algs") or {}
        for key, attr in (("kex", "supportedKeyExchanges"), ("cipher", "supportedCiphers"),
                          ("mac", "supportedMACs"), ("hostkey", "supportedPublicKeys")):
            if algs.get(key):
                setattr(self, attr, [a.encode() for a in algs[key]])
        self.rekey_bytes = case.get("rekey_bytes")
        self.lost_reason = None
        self.waiters = []

    def verifyHostKey(self, hostKey, fingerprint):
        if hostKey in self.trusted:
            return defer.succeed(True)
        return defer.fail(Exception("host key not trusted"))

    def connectionSecure(self):
        # As Conch's own client does (twisted.conch.client.direct.SSHClientTransport): connectionSecure() runs
        # after every NEWKEYS, re-exchanges included, so a SERVICE_REQUEST "ssh-userauth" follows each
        # re-exchange. OpenSSH answers it with UNIMPLEMENTED and goes on.
        self.requestService(ClientAuth(self.case, ClientConnection(self.ready)))

    def lost(self):
        """A Deferred that fires (with None) when the connection is lost."""
        d = defer.Deferred()
        if self.lost_reason is not None:
            d.callback(None)
        else:
            self.waiters.append(d)
        return d

    def receiveError(self, reasonCode, description):
        self.disconnect_text = description
        if not self.ready.called:
            self.ready.errback(Exception("disconnected: %r" % description))

    def connectionLost(self, reason):
        super().connectionLost(reason)
        self.lost_reason = reason
        for d in self.waiters:
            d.callback(None)
        self.waiters = []
        if not self.ready.called:
            self.ready.errback(reason)
        if not self.failed.called:
            self.failed.callback(reason)


async def guard(t, d):
    """`await d`, unless the connection is lost first (then raise with the server's reason)."""
    i, r = await defer.race([d, t.lost()])
    if i == 1:
        raise RuntimeError("connection lost: %s" % getattr(t, "disconnect_text", t.lost_reason))
    return r


async def sftp_round_trip(conn, s):
    t = conn.transport
    ch = Session(subsystem=b"sftp")
    conn.openChannel(ch)
    client = await guard(t, ch.opened)
    flags = filetransfer.FXF_WRITE | filetransfer.FXF_CREAT | filetransfer.FXF_TRUNC
    f = await guard(t, client.openFile(s["remote"].encode(), flags, {}))
    size = os.path.getsize(s["local"])
    with open(s["local"], "rb") as src:
        offset = 0
        pending = []
        while offset < size or pending:
            while offset < size and len(pending) < IN_FLIGHT:
                data = src.read(CHUNK)
                pending.append(f.writeChunk(offset, data))
                offset += len(data)
            await guard(t, pending.pop(0))
    await guard(t, f.close())
    attrs = await guard(t, client.getAttrs(s["remote"].encode()))
    if attrs["size"] != size:
        raise RuntimeError("size after put %d, local %d" % (attrs["size"], size))
    f = await guard(t, client.openFile(s["remote"].encode(), filetransfer.FXF_READ, {}))
    with open(s["back"], "wb") as dst:
        offset = 0
        pending = []
        while offset < size or pending:
            while offset < size and len(pending) < IN_FLIGHT:
                pending.append((offset, f.readChunk(offset, min(CHUNK, size - offset))))
                offset += CHUNK
            at, d = pending.pop(0)
            data = await guard(t, d)
            dst.seek(at)
            dst.write(data)
    await guard(t, f.close())
    if s.get("remove", True):
        await guard(t, client.removeFile(s["remote"].encode()))
    ch.loseConnection()


async def run_case(case):
    res = {"name": case.get("name"), "ok": False, "error": "", "exit_status": None, "stdout": "",
           "negotiated": {}}
    ready, failed = defer.Deferred(), defer.Deferred()
    f = protocol.ClientFactory()
    f.protocol = lambda: ClientTransport(case, ready, failed)
    connector = reactor.connectTCP("127.0.0.1", case["port"], f, timeout=60)
    try:
        conn = await ready
        t = conn.transport
        res["negotiated"] = {"kex": (t.kexAlg or b"").decode(), "hostkey": (t.keyAlg or b"").decode()}
        if case.get("exec") is not None:
            ch = Session(command=case["exec"])
            conn.openChannel(ch)
            await guard(t, ch.closed_d)
            res["exit_status"] = ch.status
            res["stdout"] = ch.out.decode("utf-8", "replace")
        if case.get("sftp"):
            await sftp_round_trip(conn, case["sftp"])
        res["ok"] = True
        t.loseConnection()
    except Exception as e:  # noqa: BLE001 (the failure is the result)
        res["error"] = "%s: %s" % (type(e).__name__, e)
        connector.disconnect()
    except BaseException as e:  # Twisted Failures wrap anything
        res["error"] = repr(e)
        connector.disconnect()
    return res


async def client():
    while True:
        line = await threads.deferToThread(sys.stdin.readline)
        if not line:
            break
        if line.strip():
            try:
                res = await run_case(json.loads(line))
            except Exception as e:  # noqa: BLE001
                res = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
            print(json.dumps(res), flush=True)


# ---------------------------------------------------------------------------------------------- server


class User(avatar.ConchUser):
    def __init__(self, name, root):
        super().__init__()
        self.username = name
        self.root = root
        self.channelLookup[b"session"] = session.SSHSession
        self.subsystemLookup[b"sftp"] = filetransfer.FileTransferServer

    def getHomeDir(self):
        return filepath.FilePath(self.root)

    def _runAsUser(self, f, *args, **kw):
        # The test server runs as root and serves its folder as itself (unix.UnixConchUser would seteuid).
        try:
            f = iter(f)
        except TypeError:
            f = [(f, args, kw)]
        r = None
        for i in f:
            func = i[0]
            args = len(i) > 1 and i[1] or ()
            kw = len(i) > 2 and i[2] or {}
            r = func(*args, **kw)
        return r


@implementer(ISession)
class ExecSession:
    def __init__(self, user):
        self.user = user

    def execCommand(self, proto, cmd):
        reactor.spawnProcess(proto, "/bin/sh", ["/bin/sh", "-c", cmd.decode()], env=dict(os.environ),
                             path=self.user.root)

    def getPty(self, *a):
        raise NotImplementedError

    def openShell(self, proto):
        raise NotImplementedError

    def windowChanged(self, *a):
        pass

    def eofReceived(self):
        pass

    def closed(self):
        pass


class ConfinedSFTP(unix.SFTPServerForUnixConchUser):
    """Conch's SFTP server over the real file system, with paths taken beneath --root."""

    def _absPath(self, path):
        path = os.path.normpath("/" + path.decode() if isinstance(path, bytes) else "/" + path)
        return os.path.join(self.avatar.root, path.lstrip("/"))

    def realPath(self, path):
        return os.path.normpath("/" + (path.decode() if isinstance(path, bytes) else path))


components.registerAdapter(ExecSession, User, ISession)
components.registerAdapter(ConfinedSFTP, User, ISFTPServer)


@implementer(portal.IRealm)
class Realm:
    def __init__(self, root):
        self.root = root

    def requestAvatar(self, avatarId, mind, *interfaces):
        return interfaces[0], User(avatarId.decode() if isinstance(avatarId, bytes) else avatarId,
                                   self.root), lambda: None


def server(args):
    pub, priv = {}, {}
    for path in args.host_key:
        k = keys.Key.fromFile(path)
        name = k.sshType()
        priv[name] = k
        pub[name] = k.public()
    with open(args.authorized_keys, "rb") as f:
        user_keys = [keys.Key.fromString(l) for l in f.read().splitlines() if l.strip()]
    p = portal.Portal(Realm(args.root))
    p.registerChecker(InMemoryUsernamePasswordDatabaseDontUse(peer=args.password.encode()))
    p.registerChecker(SSHPublicKeyChecker(InMemorySSHKeyDB({b"peer": user_keys})))
    rekey = (1 << 20) if args.rekey else None

    class ServerTransport(RekeyByBytes, transport.SSHServerTransport):
        rekey_bytes = rekey

    class Factory(factory.SSHFactory):
        protocol = ServerTransport
        publicKeys = pub
        privateKeys = priv
        services = {b"ssh-userauth": userauth.SSHUserAuthServer, b"ssh-connection": connection.SSHConnection}

        def getPrimes(self):
            # Group exchange from the RFC 3526 groups Conch knows (the 2048-bit group 14).
            from twisted.conch.ssh import _kex
            g, p = _kex.getDHGeneratorAndPrime(b"diffie-hellman-group14-sha1")
            return {2048: [(g, p)]}

    f = Factory()
    f.portal = p
    port = reactor.listenTCP(0, f, interface="127.0.0.1")
    print("PORT %d" % port.getHost().port, flush=True)
    reactor.run()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["client", "server", "supported"])
    p.add_argument("--host-key", action="append", default=[])
    p.add_argument("--authorized-keys")
    p.add_argument("--password", default="peerpass")
    p.add_argument("--root")
    p.add_argument("--rekey", action="store_true")
    args = p.parse_args()
    if args.mode == "client":
        from twisted.internet import task
        task.react(lambda _r: defer.ensureDeferred(client()))
    elif args.mode == "supported":
        print(json.dumps(SUPPORTED))
    else:
        server(args)


if __name__ == "__main__":
    main()
