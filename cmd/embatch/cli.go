package main

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// Exit statuses of embatch.
const (
	// exitOK: every task succeeded.
	exitOK = 0
	// exitFailed: a task failed or never ran, or the run itself failed.
	exitFailed = 1
	// exitUsage: bad input or usage; nothing was started.
	exitUsage = 2
	// exitInterrupted: stopped by SIGINT or SIGTERM (128 + SIGINT, as a
	// shell reports a process killed by Ctrl-C).
	exitInterrupted = 130
)

// cmdEnv is what a subcommand reads and writes, so that tests can run
// subcommands in-process.
type cmdEnv struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Hurry is closed when a graceful stop should be cut short (a second
	// Ctrl-C). Nil never closes.
	Hurry <-chan struct{}
}

// command is one subcommand of embatch.
type command struct {
	name    string
	summary string
	// run runs the subcommand with its arguments; ctx is cancelled on the
	// first interrupt. It returns the exit status.
	run func(ctx context.Context, env *cmdEnv, args []string) int
	// usage writes the subcommand's help.
	usage func(w io.Writer)
}

// commands are embatch's subcommands, in the order help lists them. Add
// "sim" and "bench" here.
var commands = []command{
	{name: "run", summary: "run job files on local nodes and report what happened", run: cmdRun, usage: runUsage},
	{name: "sim", summary: "simulate a pool running a workload, in virtual time", run: cmdSim, usage: simUsage},
	{name: "bench", summary: "measure embatch next to its baselines (ratios in one run)", run: cmdBench, usage: benchUsage},
}

// lookupCommand returns the subcommand called name, or nil.
func lookupCommand(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// usage writes embatch's help.
func usage(w io.Writer) {
	fmt.Fprint(w, `embatch runs Azure Batch jobs (pools, jobs, tasks, dependencies, retries)
on this machine.

Usage:
  embatch <command> [arguments]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-6s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `  help   show help for a command

Run "embatch help <command>" or "embatch <command> -h" for a command's flags.
Start with:
  embatch run examples/quickstart.json
`)
}

// run runs the embatch command line args (without the program name) and
// returns the exit status.
func run(ctx context.Context, env *cmdEnv, args []string) int {
	if len(args) == 0 {
		usage(env.Stderr)
		return exitUsage
	}
	switch name := args[0]; name {
	case "help", "-h", "-help", "--help":
		if len(args) < 2 {
			usage(env.Stdout)
			return exitOK
		}
		c := lookupCommand(args[1])
		if c == nil {
			fmt.Fprintf(env.Stderr, "embatch: unknown command %q\n\n", args[1])
			usage(env.Stderr)
			return exitUsage
		}
		c.usage(env.Stdout)
		return exitOK
	default:
		c := lookupCommand(name)
		if c == nil {
			if strings.HasPrefix(name, "-") {
				fmt.Fprintf(env.Stderr, "embatch: flags go after the command, as in \"embatch run %s FILE\"\n\n", name)
			} else {
				fmt.Fprintf(env.Stderr, "embatch: unknown command %q\n\n", name)
			}
			usage(env.Stderr)
			return exitUsage
		}
		return c.run(ctx, env, args[1:])
	}
}
