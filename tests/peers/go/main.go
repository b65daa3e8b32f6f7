// Command gopeer is Go's golang.org/x/crypto/ssh and github.com/pkg/sftp as an interop peer of nacre,
// client or server (used by tests/tests/interop_matrix.rs). It speaks the same protocol as
// tests/peers/asyncssh_peer.py:
//
// Client: `gopeer client` reads cases from stdin, one JSON object per line, runs each on a new connection
// and prints one JSON result per line:
//
//	{"name", "port", "user", "password"|null, "key": path|null, "host_keys": ["TYPE BASE64", ...],
//	 "algs": {"kex", "cipher", "mac", "hostkey"} (each optional: only these),
//	 "rekey_bytes": int|null (Config.RekeyThreshold: the client then starts re-exchanges),
//	 "exec": str|null, "sftp": {"local", "remote", "back", "remove"}|null}
//	-> {"name", "ok", "error", "exit_status", "stdout", "negotiated": {}}
//
// SFTP uses pkg/sftp's concurrent writes (File.ReadFrom with UseConcurrentWrites) and concurrent reads
// (File.WriteTo): the uploads whose WRITE packets can be longer than their fields (issue 17).
//
// `gopeer supported` prints the algorithms this x/crypto implements in both roles, as JSON.
//
// Server: `gopeer server --host-key PATH... --authorized-keys FILE --password PW --root DIR [--rekey]` listens
// on 127.0.0.1 (a free port, printed as `PORT n`), authenticates `peer` by password or authorized key, runs
// exec requests with /bin/sh (exit status sent), serves SFTP (pkg/sftp's server over the real file system:
// clients use absolute paths under --root, which is only checked to exist) and, with --rekey, re-exchanges
// keys every MiB.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Algorithms both roles of this x/crypto implement (group exchange is client-only here, SHA-1 group 1 and
// arcfour/CBC are left out: nacre has none of them).
var supported = map[string][]string{
	"kex": {"curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256", "ecdh-sha2-nistp384",
		"ecdh-sha2-nistp521", "diffie-hellman-group14-sha256", "diffie-hellman-group14-sha1"},
	"cipher":  {"aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr"},
	"mac":     {"hmac-sha2-256-etm@openssh.com", "hmac-sha2-256", "hmac-sha1"},
	"hostkey": {"ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"},
}

type sftpCase struct {
	Local  string `json:"local"`
	Remote string `json:"remote"`
	Back   string `json:"back"`
	Remove *bool  `json:"remove"`
}

type testCase struct {
	Name       string              `json:"name"`
	Port       int                 `json:"port"`
	User       string              `json:"user"`
	Password   *string             `json:"password"`
	Key        *string             `json:"key"`
	HostKeys   []string            `json:"host_keys"`
	Algs       map[string][]string `json:"algs"`
	RekeyBytes uint64              `json:"rekey_bytes"`
	Exec       *string             `json:"exec"`
	Sftp       *sftpCase           `json:"sftp"`
}

type result struct {
	Name       string            `json:"name"`
	Ok         bool              `json:"ok"`
	Error      string            `json:"error"`
	ExitStatus *int              `json:"exit_status"`
	Stdout     string            `json:"stdout"`
	Negotiated map[string]string `json:"negotiated"`
}

func runCase(c *testCase) (res result) {
	res = result{Name: c.Name, Negotiated: map[string]string{}}
	if err := clientCase(c, &res); err != nil {
		res.Error = err.Error()
	} else {
		res.Ok = true
	}
	return res
}

func clientCase(c *testCase, res *result) error {
	var trusted [][]byte
	for _, line := range c.HostKeys {
		f := strings.Fields(line)
		if len(f) < 2 {
			return fmt.Errorf("bad host key line %q", line)
		}
		b, err := base64.StdEncoding.DecodeString(f[1])
		if err != nil {
			return err
		}
		trusted = append(trusted, b)
	}
	cfg := &ssh.ClientConfig{
		User: c.User,
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			for _, t := range trusted {
				if bytes.Equal(t, key.Marshal()) {
					return nil
				}
			}
			return errors.New("host key not trusted")
		},
	}
	if c.Key != nil {
		pem, err := os.ReadFile(*c.Key)
		if err != nil {
			return err
		}
		signer, err := ssh.ParsePrivateKey(pem)
		if err != nil {
			return fmt.Errorf("parse key: %w", err)
		}
		cfg.Auth = []ssh.AuthMethod{ssh.PublicKeys(signer)}
	} else if c.Password != nil {
		cfg.Auth = []ssh.AuthMethod{ssh.Password(*c.Password)}
	}
	if a := c.Algs["kex"]; len(a) > 0 {
		cfg.KeyExchanges = a
	}
	if a := c.Algs["cipher"]; len(a) > 0 {
		cfg.Ciphers = a
	}
	if a := c.Algs["mac"]; len(a) > 0 {
		cfg.MACs = a
	}
	if a := c.Algs["hostkey"]; len(a) > 0 {
		cfg.HostKeyAlgorithms = a
	}
	cfg.RekeyThreshold = c.RekeyBytes
	conn, err := ssh.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", c.Port), cfg)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	if c.Exec != nil {
		s, err := conn.NewSession()
		if err != nil {
			return err
		}
		var out bytes.Buffer
		s.Stdout = &out
		err = s.Run(*c.Exec)
		status := 0
		var exitErr *ssh.ExitError
		if errors.As(err, &exitErr) {
			status = exitErr.ExitStatus()
		} else if err != nil {
			return fmt.Errorf("exec: %w", err)
		}
		res.ExitStatus = &status
		res.Stdout = out.String()
	}
	if c.Sftp != nil {
		if err := sftpRoundTrip(conn, c.Sftp); err != nil {
			return err
		}
	}
	return nil
}

func sftpRoundTrip(conn *ssh.Client, s *sftpCase) error {
	client, err := sftp.NewClient(conn, sftp.UseConcurrentWrites(true), sftp.UseConcurrentReads(true))
	if err != nil {
		return fmt.Errorf("sftp: %w", err)
	}
	defer client.Close()
	in, err := os.Open(s.Local)
	if err != nil {
		return err
	}
	defer in.Close()
	f, err := client.Create(s.Remote)
	if err != nil {
		return fmt.Errorf("create %s: %w", s.Remote, err)
	}
	// Concurrent WRITEs (ReadFrom with concurrent writes on).
	if _, err := f.ReadFrom(in); err != nil {
		f.Close()
		return fmt.Errorf("upload: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close after upload: %w", err)
	}
	st, err := client.Stat(s.Remote)
	if err != nil {
		return fmt.Errorf("stat: %w", err)
	}
	info, _ := in.Stat()
	if st.Size() != info.Size() {
		return fmt.Errorf("size after put %d, local %d", st.Size(), info.Size())
	}
	g, err := client.Open(s.Remote)
	if err != nil {
		return fmt.Errorf("open %s: %w", s.Remote, err)
	}
	defer g.Close()
	out, err := os.Create(s.Back)
	if err != nil {
		return err
	}
	// Concurrent READs (WriteTo).
	if _, err := g.WriteTo(out); err != nil {
		out.Close()
		return fmt.Errorf("download: %w", err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	if s.Remove == nil || *s.Remove {
		if err := client.Remove(s.Remote); err != nil {
			return fmt.Errorf("remove: %w", err)
		}
	}
	return nil
}

func client() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var c testCase
		var res result
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			res = result{Error: "bad case: " + err.Error(), Negotiated: map[string]string{}}
		} else {
			res = runCase(&c)
		}
		b, _ := json.Marshal(res)
		fmt.Println(string(b))
	}
}

// ------------------------------------------------------------------------------------------------ server

type strList []string

func (s *strList) String() string     { return strings.Join(*s, ",") }
func (s *strList) Set(v string) error { *s = append(*s, v); return nil }

func server(args []string) {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	var hostKeys strList
	fs.Var(&hostKeys, "host-key", "host key file (repeatable)")
	authorized := fs.String("authorized-keys", "", "authorized_keys file")
	password := fs.String("password", "peerpass", "password of peer")
	root := fs.String("root", ".", "the folder the SFTP clients use")
	rekey := fs.Bool("rekey", false, "re-exchange keys every MiB")
	_ = fs.Parse(args)

	var allowed [][]byte
	if *authorized != "" {
		text, err := os.ReadFile(*authorized)
		if err != nil {
			fatal(err)
		}
		for len(bytes.TrimSpace(text)) > 0 {
			key, _, _, rest, err := ssh.ParseAuthorizedKey(text)
			if err != nil {
				fatal(err)
			}
			allowed = append(allowed, key.Marshal())
			text = rest
		}
	}
	cfg := &ssh.ServerConfig{
		PasswordCallback: func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if c.User() == "peer" && string(pw) == *password {
				return nil, nil
			}
			return nil, errors.New("wrong password")
		},
		PublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() != "peer" {
				return nil, errors.New("unknown user")
			}
			for _, a := range allowed {
				if bytes.Equal(a, key.Marshal()) {
					return nil, nil
				}
			}
			return nil, errors.New("key not authorized")
		},
	}
	cfg.KeyExchanges = supported["kex"]
	cfg.Ciphers = supported["cipher"]
	cfg.MACs = supported["mac"]
	if *rekey {
		cfg.RekeyThreshold = 1 << 20
	}
	for _, path := range hostKeys {
		pem, err := os.ReadFile(path)
		if err != nil {
			fatal(err)
		}
		signer, err := ssh.ParsePrivateKey(pem)
		if err != nil {
			fatal(fmt.Errorf("%s: %w", path, err))
		}
		cfg.AddHostKey(signer)
	}
	if _, err := os.Stat(*root); err != nil {
		fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatal(err)
	}
	fmt.Printf("PORT %d\n", ln.Addr().(*net.TCPAddr).Port)
	for {
		c, err := ln.Accept()
		if err != nil {
			fatal(err)
		}
		go serveConn(c, cfg)
	}
}

func serveConn(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	conn, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "handshake: %v\n", err)
		return
	}
	defer conn.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "accept: %v\n", err)
			continue
		}
		go serveSession(ch, creqs)
	}
}

func serveSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	var once sync.Once
	for req := range reqs {
		switch req.Type {
		case "exec":
			var p struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &p); err != nil {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			once.Do(func() { go runExec(ch, p.Command) })
		case "subsystem":
			var p struct{ Name string }
			if err := ssh.Unmarshal(req.Payload, &p); err != nil || p.Name != "sftp" {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			once.Do(func() {
				go func() {
					s, err := sftp.NewServer(ch)
					if err != nil {
						fmt.Fprintf(os.Stderr, "sftp server: %v\n", err)
						ch.Close()
						return
					}
					if err := s.Serve(); err != nil && err != io.EOF {
						fmt.Fprintf(os.Stderr, "sftp serve: %v\n", err)
					}
					_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
					ch.Close()
				}()
			})
		default:
			_ = req.Reply(false, nil)
		}
	}
}

func runExec(ch ssh.Channel, command string) {
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Stdout = ch
	cmd.Stderr = ch.Stderr()
	status := 0
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			status = ee.ExitCode()
		} else {
			status = 127
		}
	}
	_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(status)}))
	_ = ch.CloseWrite()
	ch.Close()
}

func fatal(err error) {
	fmt.Fprintf(os.Stderr, "gopeer: %v\n", err)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		fatal(errors.New("usage: gopeer client|server|supported"))
	}
	switch os.Args[1] {
	case "client":
		client()
	case "supported":
		b, _ := json.Marshal(supported)
		fmt.Println(string(b))
	case "server":
		server(os.Args[2:])
	default:
		fatal(fmt.Errorf("unknown mode %q", os.Args[1]))
	}
}
