package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/embatch/embatch/bench"
)

func benchUsage(w io.Writer) {
	fmt.Fprint(w, `Usage: embatch bench [--json] [--rounds N] NAME...

Measure embatch paths next to their baselines in this process, alternating
ours and the baseline for N rounds (default 5), and print the medians and
their ratio (ours/baseline; above 1 means ours is faster). NAME is one of
`+strings.Join(benchNames(), ", ")+`, or all.

Flags:
  --json       one JSON object per line: bench, unit, ours, baseline_name,
               baseline, ratio (and rounds, skipped)
  --rounds N   rounds per bench (default 5)
  --dir DIR    scratch directory (default the system temp directory)
`)
}

func benchNames() []string {
	var names []string
	for n := range bench.Cases(bench.DefaultDir()) {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// cmdBench is `embatch bench`.
func cmdBench(ctx context.Context, env *cmdEnv, args []string) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asJSON := fs.Bool("json", false, "")
	rounds := fs.Int("rounds", 5, "")
	dir := fs.String("dir", bench.DefaultDir(), "")
	// Flags may come before, between or after the names.
	var names []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				benchUsage(env.Stdout)
				return exitOK
			}
			fmt.Fprintf(env.Stderr, "embatch bench: %v\n\n", err)
			benchUsage(env.Stderr)
			return exitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		names = append(names, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if *rounds < 1 {
		fmt.Fprintf(env.Stderr, "embatch bench: --rounds = %d: must be at least 1\n", *rounds)
		return exitUsage
	}
	cases := bench.Cases(*dir)
	if len(names) == 0 {
		fmt.Fprintln(env.Stderr, "embatch bench: name at least one bench")
		benchUsage(env.Stderr)
		return exitUsage
	}
	if slices.Contains(names, "all") {
		names = benchNames()
	}
	for _, n := range names {
		if _, ok := cases[n]; !ok {
			fmt.Fprintf(env.Stderr, "embatch bench: unknown bench %q; want one of %s, or all\n", n, strings.Join(benchNames(), ", "))
			return exitUsage
		}
	}
	enc := json.NewEncoder(env.Stdout)
	if !*asJSON {
		fmt.Fprintf(env.Stdout, "%-8s %14s %-9s %14s %-10s %7s\n", "BENCH", "OURS", "UNIT", "BASELINE", "VS", "RATIO")
	}
	for _, n := range names {
		r, err := bench.Run(ctx, cases[n], *rounds)
		if err != nil {
			fmt.Fprintf(env.Stderr, "embatch bench: %v\n", err)
			return exitFailed
		}
		if *asJSON {
			_ = enc.Encode(r)
			continue
		}
		if r.Skipped != "" {
			fmt.Fprintf(env.Stdout, "%-8s skipped: %s\n", r.Bench, r.Skipped)
			continue
		}
		fmt.Fprintf(env.Stdout, "%-8s %14.1f %-9s %14.1f %-10s %7.3f\n", r.Bench, r.Ours, r.Unit, r.Baseline, r.BaselineName, r.Ratio)
	}
	return exitOK
}
