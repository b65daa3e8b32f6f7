#!/usr/bin/env ruby
# frozen_string_literal: true

# Ruby's net-ssh and net-sftp (Debian's ruby-net-ssh, ruby-net-sftp) as an interop peer of nacre: the client
# half of the protocol of tests/peers/asyncssh_peer.py (used by tests/tests/interop_matrix.rs).
#
# `ruby_peer.rb client` reads JSON cases from stdin, one per line, runs each on a new connection
# (Net::SSH.start: the host key checked against the case's keys by a verifier, password or `keys:`,
# `kex:`/`encryption:`/`hmac:`/`host_key:` fixed by "algs", `rekey_limit:` from "rekey_bytes"), exec with its
# exit status, SFTP (upload!, stat!, download!, remove!), and prints one JSON result per line.
# `ruby_peer.rb supported` prints the algorithms this net-ssh implements (without the optional x25519 and
# rbnacl gems, which Debian does not ship with it: no curve25519, no chacha20-poly1305).

require 'json'
require 'net/ssh'
require 'net/sftp'

ALGS = Net::SSH::Transport::Algorithms::ALGORITHMS
SUPPORTED = {
  'kex' => Net::SSH::Transport::Kex::MAP.keys,
  'hostkey' => ALGS[:host_key].reject { |a| a.include?('cert') || a == 'ssh-dss' },
  'cipher' => Net::SSH::Transport::CipherFactory::SSH_TO_OSSL.keys,
  'mac' => Net::SSH::Transport::HMAC::MAP.keys
}.freeze

# Accepts exactly the case's host keys.
class Verifier
  def initialize(blobs)
    @blobs = blobs
  end

  def verify(arguments)
    @blobs.include?(arguments[:key].to_blob)
  end

  def verify_signature
    yield
  end
end

def exec(ssh, command)
  out = +''
  status = nil
  ch = ssh.open_channel do |c|
    c.exec(command) do |_, ok|
      raise "exec refused" unless ok

      c.on_data { |_, data| out << data }
      c.on_request('exit-status') { |_, data| status = data.read_long }
    end
  end
  ch.wait
  [status, out]
end

# net-ssh 7.0 reads ECDSA and RSA keys of OpenSSH's own format with calls OpenSSL 3 removed ("rsa#set_key=
# is incompatible with OpenSSL 3.0", "EVP_PKEY_sign: missing private key"; fixed in net-ssh 7.1): those
# are given to it as PEM, which it loads through OpenSSL (`ssh-keygen -p -m PEM`), as its users do.
def pem_key(path)
  return path if File.read("#{path}.pub").start_with?('ssh-ed25519')

  pem = "#{path}.net-ssh.pem"
  unless File.exist?(pem)
    File.write(pem, File.read(path), perm: 0o600)
    system('ssh-keygen', '-q', '-p', '-N', '', '-m', 'PEM', '-f', pem, out: File::NULL) ||
      raise("ssh-keygen -m PEM failed for #{path}")
  end
  pem
end

def run_case(c)
  res = { 'name' => c['name'], 'ok' => false, 'error' => '', 'exit_status' => nil, 'stdout' => '',
          'negotiated' => {} }
  blobs = (c['host_keys'] || []).map { |l| l.split[1].unpack1('m') }
  opts = { port: c['port'], verify_host_key: Verifier.new(blobs), non_interactive: true, timeout: 60,
           use_agent: false, config: false, user_known_hosts_file: [], global_known_hosts_file: [] }
  if c['key']
    opts[:keys] = [pem_key(c['key'])]
    opts[:keys_only] = true
    opts[:auth_methods] = ['publickey']
  else
    opts[:password] = c['password']
    opts[:auth_methods] = ['password']
  end
  algs = c['algs'] || {}
  { 'kex' => :kex, 'cipher' => :encryption, 'mac' => :hmac, 'hostkey' => :host_key }.each do |k, o|
    opts[o] = algs[k] if algs[k] && !algs[k].empty?
  end
  opts[:rekey_limit] = c['rekey_bytes'] if c['rekey_bytes']
  Net::SSH.start('127.0.0.1', c['user'], **opts) do |ssh|
    res['exit_status'], res['stdout'] = exec(ssh, c['exec']) if c['exec']
    if (s = c['sftp'])
      ssh.sftp.connect! do |sftp|
        sftp.upload!(s['local'], s['remote'])
        size = sftp.stat!(s['remote']).size
        raise "size after put #{size}" unless size == File.size(s['local'])

        sftp.download!(s['remote'], s['back'])
        sftp.remove!(s['remote']) if s.fetch('remove', true)
      end
    end
  end
  res['ok'] = true
  res
rescue StandardError, Net::SSH::Exception => e
  res['error'] = "#{e.class}: #{e.message}"
  res
end

case ARGV[0]
when 'supported'
  puts JSON.generate(SUPPORTED)
when 'client'
  $stdout.sync = true
  $stdin.each_line do |line|
    next if line.strip.empty?

    puts JSON.generate(run_case(JSON.parse(line)))
  end
else
  warn 'usage: ruby_peer.rb client|supported'
  exit 2
end
