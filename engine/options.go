// Package engine is the embatch account: the public API through which Go
// programs create pools, add jobs and tasks, watch them run and read their
// results. Each pool's scheduling core (package pool) is driven by one owner
// goroutine that batches events, performs the core's actions on the pool's
// node backend (package node) and publishes state changes.
package engine

import (
	"fmt"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/embatch/embatch/engine/internal/store"
	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/pool"
)

// BackendFactory makes the node backend of one pool. The engine calls it
// once per pool, when the pool is created, and closes the backend (if it
// implements node.Closer) when the pool is deleted or the account closes.
type BackendFactory func(spec pool.Spec) (node.Backend, error)

// Option configures an Account.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	backends       map[string]BackendFactory
	defaultBackend string
	clock          func() time.Time
	policy         func(spec pool.Spec) pool.Policy
	name           string
	tracerProvider trace.TracerProvider
	meterProvider  metric.MeterProvider
	// dataDir is the store's directory; "" is in-memory mode.
	dataDir string
	// retention is the default retentionTime of completed tasks; zero or
	// negative keeps them forever.
	retention time.Duration
	// storeOpts tune the store (tests inject faults through them).
	storeOpts store.Options
	// onDurableWait, if set, runs when a reader starts waiting for a
	// round to be durable (tests use it to know a reader is blocked).
	onDurableWait func()
}

// WithBackend registers the backend factory for pools whose spec says
// "backend": {"type": typ}. The first registered type is the default for
// pools that name no backend, unless WithDefaultBackend says otherwise.
func WithBackend(typ string, f BackendFactory) Option {
	return optionFunc(func(o *options) {
		if typ == "" || f == nil {
			return
		}
		if o.backends == nil {
			o.backends = map[string]BackendFactory{}
		}
		if len(o.backends) == 0 && o.defaultBackend == "" {
			o.defaultBackend = typ
		}
		o.backends[typ] = f
	})
}

// WithDefaultBackend names the backend type of pools whose spec names none.
func WithDefaultBackend(typ string) Option {
	return optionFunc(func(o *options) { o.defaultBackend = typ })
}

// WithClock replaces time.Now, for tests. nil is ignored.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(o *options) {
		if now != nil {
			o.clock = now
		}
	})
}

// WithPolicy chooses the scheduling policy of each pool; nil is ignored and
// the default is Azure's ordering (pool.NewAzurePolicy).
func WithPolicy(f func(spec pool.Spec) pool.Policy) Option {
	return optionFunc(func(o *options) {
		if f != nil {
			o.policy = f
		}
	})
}

// WithAccountName sets AZ_BATCH_ACCOUNT_NAME-style naming; default "embatch".
func WithAccountName(name string) Option {
	return optionFunc(func(o *options) {
		if name != "" {
			o.name = name
		}
	})
}

func buildOptions(opts []Option) (options, error) {
	o := options{clock: time.Now, name: "embatch", retention: pool.DefaultRetentionTime}
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	if o.defaultBackend != "" && o.backends[o.defaultBackend] == nil {
		return o, fmt.Errorf("engine: default backend %q is not registered (use WithBackend)", o.defaultBackend)
	}
	return o, nil
}
