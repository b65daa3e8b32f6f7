#!/bin/sh
# Records both directions of a session between OpenSSH's sftp client and OpenSSH's sftp-server,
# driven by the commands in ./batch, into OUTDIR/c2s.bin (client to server) and OUTDIR/s2c.bin
# (server to client). Used by tests/openssh_client.rs, live and to make the saved transcript:
#
#     sh crates/sftp-codec/tests/data/capture.sh crates/sftp-codec/tests/data/openssh-9.2p1
#
# The session runs in a fresh temporary directory, which is removed afterwards.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$(cd "${1:?usage: capture.sh OUTDIR}" && pwd)
server=${SFTP_SERVER:-/usr/lib/openssh/sftp-server}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/work"
printf 'hello sftp\n' > "$tmp/work/local.txt"
cat > "$tmp/tee.sh" <<TEE
#!/bin/sh
tee "$out/c2s.bin" | "$server" | tee "$out/s2c.bin"
TEE
chmod +x "$tmp/tee.sh"
cd "$tmp/work"
# Commands expected to fail are prefixed with "-" in the batch, so sftp goes on.
sftp -q -D "$tmp/tee.sh" -b "$here/batch" > "$tmp/sftp.log" 2>&1 || {
    cat "$tmp/sftp.log" >&2
    exit 1
}
