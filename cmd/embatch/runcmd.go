package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/embatch/embatch/engine"
)

// defaultDataDir is the account data directory when --data is not given.
const defaultDataDir = "embatch-data"

// runOptions are the flags of `embatch run`.
type runOptions struct {
	// dataDir is the account data directory, absolute.
	dataDir string
	json    bool
	quiet   bool
	// replace: a job already in the data directory from a different job
	// file is deleted and started over (resume.go).
	replace bool
	files   []string
}

// runUsage writes the help of `embatch run`.
func runUsage(w io.Writer) {
	fmt.Fprint(w, `Usage: embatch run [flags] FILE...

Run the jobs of the job files on this machine, show progress on stderr, and
print what happened to every task when all jobs are done.

A FILE is one job (Azure's JobAddParameter JSON with a "tasks" array of
TaskAddParameter JSON and/or a "taskFactory") or {"pools": [...], "jobs": [...]};
"-" reads standard input. Jobs whose pool no file defines get a pool of one
local node per CPU. The format: go doc github.com/embatch/embatch/cmd/embatch

Flags:
  --data DIR   account data directory, holding node directories, task files
               and relative output file destinations (default ./embatch-data)
  --json       print the final report as JSON on stdout
  --quiet      show no progress on stderr
  --replace    start over a job that the data directory holds from a
               different job file (without it, that is an error)

The account is kept in DIR/account: running the same command again after
a crash (or kill) continues where it stopped, without adding or running
again the tasks that completed.

Exit status: 0 if every task succeeded; 1 if a task failed or never ran;
2 for bad input or usage (then nothing was started); 130 if interrupted
(Ctrl-C: running tasks are killed and the report shows what happened).
`)
}

// parseRunFlags parses the flags of `embatch run`, which may come before,
// between or after the files (but not after "--"). It returns the exit
// status to return at once, or -1 to go on.
func parseRunFlags(env *cmdEnv, args []string) (runOptions, int) {
	var o runOptions
	fs := flag.NewFlagSet("embatch run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	data := fs.String("data", "./"+defaultDataDir, "")
	fs.BoolVar(&o.json, "json", false, "")
	fs.BoolVar(&o.quiet, "quiet", false, "")
	fs.BoolVar(&o.replace, "replace", false, "")
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				runUsage(env.Stdout)
				return o, exitOK
			}
			fmt.Fprintf(env.Stderr, "embatch run: %v\n\n", err)
			runUsage(env.Stderr)
			return o, exitUsage
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			o.files = append(o.files, rest...)
			break
		}
		o.files = append(o.files, rest[0])
		args = rest[1:]
	}
	if len(o.files) == 0 {
		fmt.Fprint(env.Stderr, "embatch run: no job file given\n\n")
		runUsage(env.Stderr)
		return o, exitUsage
	}
	if *data == "" {
		fmt.Fprint(env.Stderr, "embatch run: --data must not be empty\n")
		return o, exitUsage
	}
	abs, err := filepath.Abs(*data)
	if err != nil {
		fmt.Fprintf(env.Stderr, "embatch run: --data: %v\n", err)
		return o, exitUsage
	}
	o.dataDir = abs
	return o, -1
}

// cmdRun is `embatch run`: load and check the files, start an account in
// the data directory, run every job to its end and report.
func cmdRun(ctx context.Context, env *cmdEnv, args []string) int {
	opts, code := parseRunFlags(env, args)
	if code >= 0 {
		return code
	}
	l := &loader{dataDir: opts.dataDir, stdin: env.Stdin, cpus: runtime.NumCPU(), now: time.Now()}
	p, err := l.load(opts.files)
	if err != nil {
		fmt.Fprintf(env.Stderr, "embatch: %v\n", err)
		return exitUsage
	}
	if err := os.MkdirAll(opts.dataDir, 0o755); err != nil {
		fmt.Fprintf(env.Stderr, "embatch: data directory: %v\n", err)
		return exitFailed
	}
	tel, err := setupTelemetry(ctx)
	if err != nil {
		fmt.Fprintf(env.Stderr, "embatch: telemetry: %v\n", err)
		return exitUsage
	}
	defer func() {
		if err := tel.close(context.WithoutCancel(ctx)); err != nil {
			fmt.Fprintf(env.Stderr, "embatch: telemetry: %v\n", err)
		}
	}()
	acct, err := engine.New(append(append(backendOptions(opts.dataDir), tel.options...), engine.WithDataDir(accountDir(opts.dataDir)))...)
	if err != nil {
		fmt.Fprintf(env.Stderr, "embatch: %v\n", err)
		return exitFailed
	}
	defer acct.Close()
	if err := checkResume(ctx, acct, p, opts.replace); err != nil {
		fmt.Fprintf(env.Stderr, "embatch: %v\n", err)
		return exitUsage
	}

	// Progress, the settling jobs and errors all write to stderr.
	xenv := *env
	xenv.Stderr = &lockedWriter{w: env.Stderr}
	x := &execution{acct: acct, plan: p, env: &xenv, opts: opts, tty: isTerminal(env.Stderr)}
	x.run(ctx)
	// The report reads the account, so it is built before Close; Close
	// then kills whatever still runs (only after an interrupted stop that
	// ran out of time).
	rep := buildReport(context.WithoutCancel(ctx), acct, x.added)
	acct.Close()

	if opts.json {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(env.Stderr, "embatch: writing the report: %v\n", err)
			return exitFailed
		}
	} else {
		rep.writeText(env.Stdout)
	}
	switch {
	case x.interrupted:
		return exitInterrupted
	case x.runFailed() || len(x.added) < len(p.Jobs) || !rep.allSucceeded():
		return exitFailed
	}
	return exitOK
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// Write writes p to the underlying writer, one caller at a time.
func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
