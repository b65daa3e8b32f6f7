#!/usr/bin/env node
// ssh2 (npm, pure JavaScript) as an interop peer of nacre, client or server (used by
// tests/tests/interop_matrix.rs), with the protocol of tests/peers/asyncssh_peer.py. scripts/install-peers
// installs the package under $REPO/.peers/node (NODE_PATH points there).
//
// Client: `node_peer.js client` reads JSON cases from stdin, one per line: Client.connect with hostVerifier
// checking the key against the case's keys, password or privateKey, "algs" as `algorithms` (ssh2's Client has
// no rekey call: only its server Connection has one); exec (stdout, exit code); SFTP: fastPut (parallel
// writes), stat, fastGet (parallel reads), unlink. Prints one JSON result per line.
// Server: `node_peer.js server --host-key PATH... --authorized-keys FILE --password PW --root DIR [--rekey]`:
// a Server on 127.0.0.1 (port printed as `PORT n`), `peer` by password or authorized key (signatures
// verified), exec by /bin/sh (stdout, stderr, exit status), an SFTP server over --root written on ssh2's
// SFTP handlers (OPEN, READ, WRITE, CLOSE, STAT/LSTAT/FSTAT, REMOVE, REALPATH), every algorithm ssh2
// supports, and with --rekey Connection.rekey() after every MiB the SFTP server writes.
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');
const { spawn } = require('child_process');
const { Client, Server, utils } = require('ssh2');
const C = require('ssh2/lib/protocol/constants');

const NACRE_NONE = new Set(['aes256-cbc', 'aes192-cbc', 'aes128-cbc', '3des-cbc', 'hmac-md5', 'ssh-dss']);
// ssh2's server has no group exchange ("Group exchange not implemented for server", kex.js) but would offer it.
const SERVER_LACKS = ['diffie-hellman-group-exchange-sha256', 'diffie-hellman-group-exchange-sha1'];
const ALL = {
  kex: C.SUPPORTED_KEX.filter((a) => !SERVER_LACKS.includes(a)),
  cipher: C.SUPPORTED_CIPHER.filter((a) => !NACRE_NONE.has(a)),
  hmac: C.SUPPORTED_MAC.filter((a) => !NACRE_NONE.has(a)),
  serverHostKey: C.SUPPORTED_SERVER_HOST_KEY.filter((a) => !NACRE_NONE.has(a)),
};

function blob(line) {
  return Buffer.from(line.split(/\s+/)[1], 'base64');
}

function runCase(c) {
  return new Promise((resolve) => {
    const res = { name: c.name, ok: false, error: '', exit_status: null, stdout: '', negotiated: {} };
    const trusted = (c.host_keys || []).map(blob);
    const conn = new Client();
    let done = false;
    const finish = (err) => {
      if (done) return;
      done = true;
      if (err) res.error = String(err && err.stack ? err.message : err);
      else res.ok = true;
      conn.end();
      resolve(res);
    };
    const algs = c.algs || {};
    const algorithms = {};
    if (algs.kex) algorithms.kex = algs.kex;
    if (algs.cipher) algorithms.cipher = algs.cipher;
    if (algs.mac) algorithms.hmac = algs.mac;
    if (algs.hostkey) algorithms.serverHostKey = algs.hostkey;
    const opts = {
      host: '127.0.0.1', port: c.port, username: c.user, readyTimeout: 60000, tryKeyboard: false,
      hostVerifier: (key) => trusted.some((t) => t.equals(key)), algorithms,
    };
    if (c.key) opts.privateKey = fs.readFileSync(c.key);
    else opts.password = c.password;
    conn.on('error', finish);
    conn.on('ready', async () => {
      try {
        if (c.exec != null) {
          await new Promise((ok, fail) => conn.exec(c.exec, (err, stream) => {
            if (err) return fail(err);
            let out = '';
            stream.on('data', (d) => { out += d; });
            stream.stderr.on('data', () => {});
            stream.on('close', (code) => { res.exit_status = code; res.stdout = out; ok(); });
          }));
        }
        if (c.sftp) {
          const s = c.sftp;
          const sftp = await new Promise((ok, fail) => conn.sftp((e, x) => (e ? fail(e) : ok(x))));
          const p = (f, ...a) => new Promise((ok, fail) => f.call(sftp, ...a, (e, r) => (e ? fail(e) : ok(r))));
          await p(sftp.fastPut, s.local, s.remote);
          const st = await p(sftp.stat, s.remote);
          if (st.size !== fs.statSync(s.local).size) throw new Error(`size after put ${st.size}`);
          await p(sftp.fastGet, s.remote, s.back);
          if (s.remove !== false) await p(sftp.unlink, s.remote);
          sftp.end();
        }
        finish();
      } catch (e) {
        finish(e);
      }
    });
    conn.connect(opts);
  });
}

async function client() {
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.trim()) continue;
    process.stdout.write(JSON.stringify(await runCase(JSON.parse(line))) + '\n');
  }
}

// ------------------------------------------------------------------------------------------------ server

function sftpServer(sftp, root, onWritten) {
  const { STATUS_CODE, OPEN_MODE } = utils.sftp;
  const handles = new Map();
  let next = 0;
  const local = (p) => path.join(root, path.posix.normalize('/' + p));
  const attrs = (st) => ({ mode: st.mode, uid: st.uid, gid: st.gid, size: st.size,
                           atime: Math.floor(st.atimeMs / 1000), mtime: Math.floor(st.mtimeMs / 1000) });
  const fail = (id, e) => sftp.status(id, e && e.code === 'ENOENT' ? STATUS_CODE.NO_SUCH_FILE : STATUS_CODE.FAILURE);
  const handle = (buf) => handles.get(buf.readUInt32BE(0));
  sftp.on('OPEN', (id, filename, flags) => {
    let mode = 'r';
    if (flags & OPEN_MODE.WRITE) mode = (flags & OPEN_MODE.TRUNC) ? 'w' : 'r+';
    if ((flags & OPEN_MODE.WRITE) && (flags & OPEN_MODE.READ)) mode = (flags & OPEN_MODE.TRUNC) ? 'w+' : 'r+';
    fs.open(local(filename), mode, (e, fd) => {
      if (e) return fail(id, e);
      const h = Buffer.alloc(4);
      h.writeUInt32BE(next, 0);
      handles.set(next++, fd);
      sftp.handle(id, h);
    });
  });
  sftp.on('WRITE', (id, h, offset, data) => {
    fs.write(handle(h), data, 0, data.length, offset, (e) => {
      if (e) return fail(id, e);
      onWritten(data.length);
      sftp.status(id, STATUS_CODE.OK);
    });
  });
  sftp.on('READ', (id, h, offset, len) => {
    const buf = Buffer.alloc(len);
    fs.read(handle(h), buf, 0, len, offset, (e, n) => {
      if (e) return fail(id, e);
      if (n === 0) return sftp.status(id, STATUS_CODE.EOF);
      sftp.data(id, buf.subarray(0, n));
    });
  });
  sftp.on('CLOSE', (id, h) => {
    const fd = handle(h);
    handles.delete(h.readUInt32BE(0));
    fs.close(fd, (e) => (e ? fail(id, e) : sftp.status(id, STATUS_CODE.OK)));
  });
  sftp.on('FSTAT', (id, h) => fs.fstat(handle(h), (e, st) => (e ? fail(id, e) : sftp.attrs(id, attrs(st)))));
  for (const op of ['STAT', 'LSTAT']) {
    sftp.on(op, (id, p) => fs.stat(local(p), (e, st) => (e ? fail(id, e) : sftp.attrs(id, attrs(st)))));
  }
  sftp.on('REMOVE', (id, p) => fs.unlink(local(p), (e) => (e ? fail(id, e) : sftp.status(id, STATUS_CODE.OK))));
  sftp.on('REALPATH', (id, p) => {
    const name = path.posix.normalize('/' + p);
    sftp.name(id, [{ filename: name, longname: name, attrs: {} }]);
  });
  sftp.on('SETSTAT', (id) => sftp.status(id, STATUS_CODE.OK));
  sftp.on('FSETSTAT', (id) => sftp.status(id, STATUS_CODE.OK));
}

function server(args) {
  const hostKeys = args['host-key'].map((p) => fs.readFileSync(p));
  const allowed = fs.readFileSync(args['authorized-keys'], 'utf8').split('\n').filter((l) => l.trim())
    .map((l) => utils.parseKey(l));
  const rekeyBytes = args.rekey ? (1 << 20) : 0;
  const srv = new Server({ hostKeys, algorithms: ALL }, (client) => {
    client.on('authentication', (ctx) => {
      if (ctx.username !== 'peer') return ctx.reject();
      if (ctx.method === 'password' && ctx.password === args.password) return ctx.accept();
      if (ctx.method === 'publickey') {
        const key = allowed.find((k) => k.type === ctx.key.algo.replace(/^rsa-sha2-\d+$/, 'ssh-rsa')
          && k.getPublicSSH().equals(ctx.key.data)) || allowed.find((k) => k.getPublicSSH().equals(ctx.key.data));
        if (key && (!ctx.signature || key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true)) {
          return ctx.accept();
        }
      }
      ctx.reject(['password', 'publickey']);
    });
    client.on('ready', () => {
      let written = 0;
      const onWritten = (n) => {
        written += n;
        if (rekeyBytes && written >= rekeyBytes) {
          written = 0;
          client.rekey();
        }
      };
      client.on('session', (accept) => {
        const session = accept();
        session.on('exec', (acc, _rej, info) => {
          const stream = acc();
          const p = spawn('/bin/sh', ['-c', info.command], { stdio: ['ignore', 'pipe', 'pipe'] });
          p.stdout.pipe(stream, { end: false });
          p.stderr.pipe(stream.stderr, { end: false });
          p.on('close', (code) => {
            stream.exit(code == null ? 255 : code);
            stream.end();
          });
        });
        session.on('sftp', (acc) => sftpServer(acc(), args.root, onWritten));
      });
    });
    client.on('error', (e) => process.stderr.write(`client error: ${e.message}\n`));
  });
  srv.listen(0, '127.0.0.1', () => {
    process.stdout.write(`PORT ${srv.address().port}\n`);
  });
}

function parseArgs(argv) {
  const a = { 'host-key': [], password: 'peerpass' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i].replace(/^--/, '');
    if (k === 'rekey') a.rekey = true;
    else if (k === 'host-key') a['host-key'].push(argv[++i]);
    else a[k] = argv[++i];
  }
  return a;
}

const mode = process.argv[2];
if (mode === 'supported') {
  const why = 'ssh2 implements group exchange in its client only (its server: "Group exchange not implemented '
    + 'for server")';
  process.stdout.write(JSON.stringify({ kex: C.SUPPORTED_KEX, cipher: C.SUPPORTED_CIPHER, mac: C.SUPPORTED_MAC,
                                        hostkey: C.SUPPORTED_SERVER_HOST_KEY,
                                        server_lacks: Object.fromEntries(SERVER_LACKS.map((a) => [a, why])) })
                       + '\n');
} else if (mode === 'client') {
  client();
} else if (mode === 'server') {
  server(parseArgs(process.argv.slice(3)));
} else {
  process.stderr.write('usage: node_peer.js client|server|supported\n');
  process.exit(2);
}
