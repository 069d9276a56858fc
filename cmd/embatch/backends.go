package main

import (
	"path/filepath"
	"slices"
	"strings"

	"github.com/embatch/embatch/engine"
	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/node/local"
	"github.com/embatch/embatch/node/ssh"
	"github.com/embatch/embatch/pool"
)

// backendFactory makes the node backend of one pool. dataDir is the
// account's data directory (absolute).
type backendFactory func(dataDir string, spec pool.Spec) (node.Backend, error)

// backends are the node backends a pool can name in "backend": {"type": ...},
// by type. Add an entry here to offer another backend to job files.
var backends = map[string]backendFactory{
	"local": newLocalBackend,
	// ssh runs the pool's nodes on the hosts its spec lists, one node per
	// host (see package node/ssh).
	"ssh": func(_ string, spec pool.Spec) (node.Backend, error) {
		b := spec.Backend
		return ssh.New(ssh.Config{Hosts: b.Hosts, IdentityFile: b.IdentityFile, KnownHostsFile: b.KnownHostsFile,
			InsecureIgnoreHostKey: b.InsecureIgnoreHostKey, Root: b.Root})
	},
}

// defaultBackend is the backend type of pools that name none.
const defaultBackend = "local"

// newLocalBackend runs the pool's nodes as directories under
// <data>/pools/<poolId>/nodes and its tasks as local processes.
func newLocalBackend(dataDir string, spec pool.Spec) (node.Backend, error) {
	return local.New(poolDir(dataDir, spec.ID))
}

// poolDir is where a pool's backend keeps its files.
func poolDir(dataDir, poolID string) string {
	return filepath.Join(dataDir, "pools", poolID)
}

// backendTypes lists the offered backend types, sorted, for messages.
func backendTypes() string {
	var types []string
	for t := range backends {
		types = append(types, t)
	}
	slices.Sort(types)
	return strings.Join(types, ", ")
}

// backendOptions registers every offered backend with an account.
func backendOptions(dataDir string) []engine.Option {
	var opts []engine.Option
	for typ, f := range backends {
		opts = append(opts, engine.WithBackend(typ, func(spec pool.Spec) (node.Backend, error) {
			return f(dataDir, spec)
		}))
	}
	return append(opts, engine.WithDefaultBackend(defaultBackend))
}
