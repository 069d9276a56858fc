package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is a minimal OTLP/HTTP trace receiver on loopback: it
// decodes every export request and keeps the spans.
type otlpReceiver struct {
	mu    sync.Mutex
	spans map[string][]map[string]string // span name → attribute sets
	addr  string
}

func startOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &otlpReceiver{spans: map[string][]map[string]string{}, addr: ln.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/v1/traces" {
			http.NotFound(w, req)
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var msg coltrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &msg); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range msg.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, sp := range ss.Spans {
					attrs := map[string]string{}
					for _, kv := range sp.Attributes {
						attrs[kv.Key] = kv.Value.GetStringValue()
					}
					r.spans[sp.Name] = append(r.spans[sp.Name], attrs)
				}
			}
		}
		r.mu.Unlock()
		out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return r
}

// TestRunExportsSpansOverOTLP runs the built binary with
// OTEL_TRACES_EXPORTER=otlp against a receiver on loopback and checks the
// spans it received: one per job and one per task attempt.
func TestRunExportsSpansOverOTLP(t *testing.T) {
	bin := buildEmbatch(t)
	recv := startOTLPReceiver(t)
	dir := t.TempDir()
	job := filepath.Join(dir, "job.json")
	if err := os.WriteFile(job, []byte(`{"id": "traced", "poolInfo": {"poolId": "p"}, "onAllTasksComplete": "terminatejob",
	  "tasks": [{"id": "a", "commandLine": "/bin/true"}, {"id": "b", "commandLine": "/bin/sh -c 'exit 3'"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--quiet", "--data", filepath.Join(dir, "data"), job)
	cmd.Env = append(os.Environ(),
		"OTEL_TRACES_EXPORTER=otlp",
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://"+recv.addr,
		"OTEL_METRICS_EXPORTER=none",
	)
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("exit %d (%v), want 1 (task b fails):\n%s", code, err, out)
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	var tasks []string
	for _, attrs := range recv.spans["embatch.task.attempt"] {
		tasks = append(tasks, attrs["embatch.task.id"]+":"+attrs["embatch.task.result"])
	}
	sort.Strings(tasks)
	if diff := cmp.Diff([]string{"a:success", "b:failure"}, tasks); diff != "" {
		t.Errorf("attempt spans (-want +got):\n%s", diff)
	}
	jobs := recv.spans["embatch.job"]
	if len(jobs) != 1 || jobs[0]["embatch.job.id"] != "traced" {
		t.Errorf("job spans = %v", jobs)
	}
}

// TestConsoleExporterKeepsStdoutClean: with the console exporters, spans
// and metrics go to stderr, so that `embatch run --json` still prints only
// its JSON report on stdout.
func TestConsoleExporterKeepsStdoutClean(t *testing.T) {
	bin := buildEmbatch(t)
	dir := t.TempDir()
	job := filepath.Join(dir, "job.json")
	if err := os.WriteFile(job, []byte(`{"id": "traced", "poolInfo": {"poolId": "p"}, "onAllTasksComplete": "terminatejob",
	  "tasks": [{"id": "a", "commandLine": "/bin/true"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--json", "--data", filepath.Join(dir, "data"), job)
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=console", "OTEL_METRICS_EXPORTER=console")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	dec := json.NewDecoder(strings.NewReader(stdout.String()))
	for {
		var v map[string]any
		if err := dec.Decode(&v); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("stdout is not the JSON report: %v\n%s", err, stdout.String())
		}
		if _, ok := v["Name"]; ok {
			t.Fatalf("a span on stdout: %v", v)
		}
	}
	if !strings.Contains(stderr.String(), `"embatch.task.attempt"`) {
		t.Errorf("no attempt span on stderr:\n%s", stderr.String())
	}
}
