module nacre.test/gopeer

go 1.19

// The versions Debian 12 packages (golang-golang-x-crypto-dev, golang-github-pkg-sftp-dev and their
// dependencies, installed by scripts/install-peers): the Go module proxy is not reachable from the machines
// this project runs on, so the modules are taken from Debian's source tree under /usr/share/gocode.
require (
	github.com/pkg/sftp v1.13.5
	golang.org/x/crypto v0.4.0
)

require (
	github.com/kr/fs v0.1.0 // indirect
	golang.org/x/sys v0.3.0 // indirect
)

replace (
	github.com/kr/fs => /usr/share/gocode/src/github.com/kr/fs
	github.com/pkg/sftp => /usr/share/gocode/src/github.com/pkg/sftp
	golang.org/x/crypto => /usr/share/gocode/src/golang.org/x/crypto
	golang.org/x/net => /usr/share/gocode/src/golang.org/x/net
	golang.org/x/sys => /usr/share/gocode/src/golang.org/x/sys
	golang.org/x/term => /usr/share/gocode/src/golang.org/x/term
	golang.org/x/text => /usr/share/gocode/src/golang.org/x/text
)
