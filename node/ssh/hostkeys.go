package ssh

import (
	"crypto/ed25519"
	"errors"
	"net"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/embatch/embatch/task"
)

// hostKeys checks host keys against a known_hosts file, or accepts any key
// when the configuration says so.
type hostKeys struct {
	callback gossh.HostKeyCallback
	file     string // "" when keys are not checked
}

// hostKeyChecker builds the host key check of cfg.
func hostKeyChecker(cfg Config) (*hostKeys, error) {
	if cfg.KnownHostsFile == "" {
		if !cfg.InsecureIgnoreHostKey {
			return nil, task.Missing("backend.knownHostsFile")
		}
		return &hostKeys{callback: gossh.InsecureIgnoreHostKey()}, nil
	}
	cb, err := knownhosts.New(cfg.KnownHostsFile)
	if err != nil {
		return nil, task.Invalid("backend.knownHostsFile", cfg.KnownHostsFile, "%v", err)
	}
	if cfg.InsecureIgnoreHostKey {
		return &hostKeys{callback: gossh.InsecureIgnoreHostKey()}, nil
	}
	return &hostKeys{callback: cb, file: cfg.KnownHostsFile}, nil
}

// algorithms returns the host key algorithms to ask addr for: those of the
// keys known_hosts lists for it, so that the server does not offer a key of
// another type that would then fail the check. A host missing from the
// file is an error now rather than at every connection attempt.
func (k *hostKeys) algorithms(addr string) ([]string, error) {
	if k.file == "" {
		return nil, nil
	}
	// Asking about a key that cannot be in the file makes the callback
	// list the keys that are (the knownhosts.KeyError trick).
	probe, err := gossh.NewPublicKey(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public())
	if err != nil {
		return nil, err
	}
	err = k.callback(addr, &net.TCPAddr{IP: net.IPv4zero}, probe)
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) || len(ke.Want) == 0 {
		host, port, _ := net.SplitHostPort(addr)
		return nil, task.Invalid("backend.knownHostsFile", k.file,
			"has no key for host %s; add it with: ssh-keyscan -p %s %s >> %s (after checking the fingerprint)", addr, port, host, k.file)
	}
	var algos []string
	seen := make(map[string]bool)
	add := func(names ...string) {
		for _, n := range names {
			if !seen[n] {
				seen[n] = true
				algos = append(algos, n)
			}
		}
	}
	for _, w := range ke.Want {
		switch t := w.Key.Type(); t {
		case gossh.KeyAlgoRSA:
			add(gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256, gossh.KeyAlgoRSA)
		default:
			add(t)
		}
	}
	return algos, nil
}
