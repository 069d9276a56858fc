package inprocess

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/embatch/embatch/node"
	"github.com/embatch/embatch/task"
)

func readFile(t *testing.T, b *Backend, taskID, name string) string {
	t.Helper()
	out, err := b.ReadTaskFile(context.Background(), "n1", "j1", taskID, name)
	if err != nil {
		t.Fatalf("ReadTaskFile(%s, %s): %v", taskID, name, err)
	}
	return string(out)
}

func TestTaskFiles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBackend(t, 2)
		mustRegister(t, b, "print", func(_ context.Context, tk *Task) error {
			fmt.Fprintf(tk.Stdout, "hello %s\n", strings.Join(tk.Args, " "))
			time.Sleep(time.Second)
			io.WriteString(tk.Stderr, "warning\n")
			return nil
		})
		mustRegister(t, b, "silent", func(context.Context, *Task) error { return nil })
		t0 := time.Now()
		run(t, b, context.Background(), attempt(1, "print a b"))
		run(t, b, context.Background(), attempt(2, "silent"))

		if got := readFile(t, b, "t1", "stdout.txt"); got != "hello a b\n" {
			t.Errorf("stdout = %q", got)
		}
		if got := readFile(t, b, "t1", "stderr.txt"); got != "warning\n" {
			t.Errorf("stderr = %q", got)
		}
		if got := readFile(t, b, "t2", "stdout.txt"); got != "" {
			t.Errorf("silent stdout = %q", got)
		}
		list, err := b.ListTaskFiles(context.Background(), "n1", "j1", "t1", true)
		if err != nil {
			t.Fatal(err)
		}
		want := []node.FileInfo{
			{Name: "stderr.txt", ContentLength: 8, LastModified: t0.Add(time.Second)},
			{Name: "stdout.txt", ContentLength: 10, LastModified: t0},
		}
		if diff := cmp.Diff(want, list); diff != "" {
			t.Errorf("ListTaskFiles (-want +got):\n%s", diff)
		}
		list, err = b.ListTaskFiles(context.Background(), "n1", "j1", "t2", false)
		if diff := cmp.Diff([]node.FileInfo{{Name: "stderr.txt"}, {Name: "stdout.txt"}}, list); err != nil || diff != "" {
			t.Errorf("ListTaskFiles silent (-want +got), %v:\n%s", err, diff)
		}

		for _, name := range []string{"wd/x", "../stdout.txt", "", "STDOUT.TXT"} {
			_, err := b.ReadTaskFile(context.Background(), "n1", "j1", "t1", name)
			var te *task.Error
			if !errors.As(err, &te) || te.Code != "FileNotFound" || te.Value != name {
				t.Errorf("ReadTaskFile(%q) = %v, want FileNotFound", name, err)
			}
		}
		if _, err := b.ReadTaskFile(context.Background(), "nx", "j1", "t1", "stdout.txt"); !errors.Is(err, task.ErrNodeNotFound) {
			t.Errorf("ReadTaskFile on unknown node = %v", err)
		}
		if _, err := b.ListTaskFiles(context.Background(), "nx", "j1", "t1", false); !errors.Is(err, task.ErrNodeNotFound) {
			t.Errorf("ListTaskFiles on unknown node = %v", err)
		}

		if err := b.RemoveTaskDir(context.Background(), "n1", "j1", "t1"); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, b, "t1", "stdout.txt"); got != "" {
			t.Errorf("stdout after RemoveTaskDir = %q", got)
		}
		if err := b.RemoveTaskDir(context.Background(), "n1", "j1", "t1"); err != nil {
			t.Errorf("second RemoveTaskDir = %v", err)
		}
		if err := b.RemoveTaskDir(context.Background(), "nx", "j1", "t1"); !errors.Is(err, task.ErrNodeNotFound) {
			t.Errorf("RemoveTaskDir on unknown node = %v", err)
		}
	})
}

func TestNewAttemptReplacesOutput(t *testing.T) {
	b := newBackend(t, 1)
	mustRegister(t, b, "say", func(_ context.Context, tk *Task) error {
		for _, a := range tk.Args {
			io.WriteString(tk.Stdout, a)
		}
		return nil
	})
	first := attempt(1, "say first")
	run(t, b, context.Background(), first)
	if got := readFile(t, b, "t1", "stdout.txt"); got != "first" {
		t.Fatalf("stdout = %q", got)
	}
	retry := *first
	retry.ID, retry.Retry, retry.CommandLine = 2, 1, "say"
	run(t, b, context.Background(), &retry)
	if got := readFile(t, b, "t1", "stdout.txt"); got != "" {
		t.Errorf("stdout after a silent retry = %q, want empty", got)
	}
	retry.ID, retry.Retry, retry.CommandLine = 3, 2, "say third"
	run(t, b, context.Background(), &retry)
	if got := readFile(t, b, "t1", "stdout.txt"); got != "third" {
		t.Errorf("stdout after a retry = %q", got)
	}
}

func TestRemoveNodeDropsOutput(t *testing.T) {
	b := newBackend(t, 1)
	mustRegister(t, b, "say", func(_ context.Context, tk *Task) error { io.WriteString(tk.Stdout, "x"); return nil })
	run(t, b, context.Background(), attempt(1, "say"))
	if err := b.RemoveNode(context.Background(), "n1"); err != nil {
		t.Fatal(err)
	}
	if err := b.AddNode(context.Background(), node.NodeInfo{NodeID: "n1", Slots: 1}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, b, "t1", "stdout.txt"); got != "" {
		t.Errorf("stdout on the re-added node = %q, want empty", got)
	}
}

func TestOutputLimit(t *testing.T) {
	tests := []struct {
		limit  int
		writes []string
		want   string
	}{
		{limit: 0, writes: []string{"abc"}, want: ""},
		{limit: -1, writes: []string{"abc"}, want: ""},
		{limit: 4, writes: []string{"ab", "cd"}, want: "abcd"},
		{limit: 4, writes: []string{"ab", "cde"}, want: "bcde"},
		{limit: 4, writes: []string{"abcdefgh"}, want: "efgh"},
		{limit: 4, writes: []string{"a", "b", "c", "d", "e", "f", "g"}, want: "defg"},
		{limit: 4, writes: []string{"abc", "", "defghij", "k"}, want: "hijk"},
		{limit: 5, writes: []string{"abcd", "ef", "ghi"}, want: "efghi"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.limit, tt.writes), func(t *testing.T) {
			b := newBackend(t, 1, WithOutputLimit(tt.limit))
			mustRegister(t, b, "w", func(_ context.Context, tk *Task) error {
				for i, w := range tt.writes {
					// Alternate the two write paths.
					if i%2 == 0 {
						tk.Stdout.Write([]byte(w))
					} else {
						io.WriteString(tk.Stdout, w)
					}
				}
				return nil
			})
			run(t, b, context.Background(), attempt(1, "w"))
			if got := readFile(t, b, "t1", "stdout.txt"); got != tt.want {
				t.Errorf("stdout = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzTail checks the ring buffer against keeping the whole stream.
func FuzzTail(f *testing.F) {
	f.Add(uint8(4), []byte("abcdefghij"), []byte{1, 3, 0, 7})
	f.Add(uint8(1), []byte("xy"), []byte{2})
	f.Fuzz(func(t *testing.T, limit uint8, data []byte, cuts []byte) {
		var tl tail
		var all []byte
		for _, c := range cuts {
			n := min(int(c), len(data))
			writeTail(&tl, data[:n], int(limit))
			all = append(all, data[:n]...)
			data = data[n:]
			if cap(tl.buf) > int(limit) {
				t.Fatalf("cap %d > limit %d", cap(tl.buf), limit)
			}
		}
		want := all[len(all)-min(len(all), int(limit)):]
		if got := tl.bytes(); !bytes.Equal(got, want) {
			t.Fatalf("tail = %q, want %q", got, want)
		}
	})
}

func TestConcurrentWrites(t *testing.T) {
	b := newBackend(t, 1)
	const writers, lines = 8, 100
	mustRegister(t, b, "many", func(_ context.Context, tk *Task) error {
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for range lines {
					fmt.Fprintf(tk.Stdout, "%d\n", w)
				}
			})
		}
		wg.Wait()
		return nil
	})
	run(t, b, context.Background(), attempt(1, "many"))
	got := readFile(t, b, "t1", "stdout.txt")
	if n := strings.Count(got, "\n"); n != writers*lines || len(got) != 2*writers*lines {
		t.Errorf("got %d lines, %d bytes; want %d lines of 2 bytes", n, len(got), writers*lines)
	}
}
