package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, hurry, stop := notifyInterrupts()
	code := run(ctx, &cmdEnv{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Hurry: hurry}, os.Args[1:])
	stop()
	os.Exit(code)
}

// notifyInterrupts catches SIGINT and SIGTERM: the first cancels the
// returned context (stop gracefully), the second closes the returned
// channel (stop at once). stop ends the catching.
func notifyInterrupts() (ctx context.Context, hurry <-chan struct{}, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	h := make(chan struct{})
	done := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case <-sigs:
				n++
				switch n {
				case 1:
					cancel()
				case 2:
					close(h)
				}
			case <-done:
				return
			}
		}
	}()
	return ctx, h, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}
