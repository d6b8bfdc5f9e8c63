package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/tfkit/tfc"
)

// BenchmarkReceiverStalledBodies measures the heap that 200 stalled senders hold:
// each declares a 1 MiB body (Content-Length), sends 100 bytes and stops. The figure
// is the live heap once every connection's 100 bytes were read, net/http's
// per-connection buffers included.
func BenchmarkReceiverStalledBodies(b *testing.B) {
	const conns = 200
	r, err := tfc.NewReceiver(func(context.Context, *tfc.Delivery) (tfc.TaskResultUpdate, error) {
		return tfc.Passed("ok"), nil
	}, tfc.WithHMACKeys(benchKey), tfc.WithAllowedHosts("app.terraform.io"))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Shutdown(context.Background())
	read := make(chan struct{}, conns)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		req.Body = &signalOnRead{ReadCloser: req.Body, read: read}
		r.ServeHTTP(w, req)
	}))
	defer srv.Close()
	head := "POST / HTTP/1.1\r\nHost: receiver\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n" + strings.Repeat("{", 100)
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		open := make([]net.Conn, conns)
		for i := range open {
			c, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.WriteString(c, head); err != nil {
				b.Fatal(err)
			}
			open[i] = c
		}
		for range conns {
			<-read
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "held-MiB")
		for _, c := range open {
			c.Close()
		}
	}
}

// signalOnRead reports the first read that returned bytes.
type signalOnRead struct {
	io.ReadCloser
	read chan<- struct{}
	once sync.Once
}

func (s *signalOnRead) Read(p []byte) (int, error) {
	n, err := s.ReadCloser.Read(p)
	if n > 0 {
		s.once.Do(func() { s.read <- struct{}{} })
	}
	return n, err
}

const resourceChange = `{"address":"module.m%d.aws_instance.web[%d]","module_address":"module.m%d","mode":"managed","type":"aws_instance","name":"web","index":%d,"provider_name":"registry.terraform.io/hashicorp/aws","change":{"actions":["update"],"before":{"ami":"ami-0123456789abcdef0","instance_type":"t3.micro","tags":{"Name":"web-%d"}},"after":{"ami":"ami-0fedcba9876543210","instance_type":"t3.small","tags":{"Name":"web-%d"}},"after_unknown":{},"before_sensitive":{},"after_sensitive":{}}}`

// planElement is one resource change and a comma, for plans that never end.
var planElement = []byte(fmt.Sprintf(resourceChange, 1, 1, 1, 1, 1, 1) + ",")

// planStream renders a plan of about size bytes on the fly (resource changes of an
// ordinary shape), so that the benchmark does not hold it.
type planStream struct {
	size, sent, i int
	pending       []byte
	done          bool
}

func (p *planStream) Read(b []byte) (int, error) {
	if len(p.pending) == 0 {
		switch {
		case p.done:
			return 0, io.EOF
		case p.sent == 0:
			p.pending = []byte(`{"format_version":"1.2","terraform_version":"1.9.0","resource_changes":[`)
		case p.sent >= p.size:
			p.pending, p.done = []byte(`]}`), true
		default:
			sep := ","
			if p.i == 0 {
				sep = ""
			}
			p.pending = fmt.Appendf(nil, sep+resourceChange, p.i%100, p.i, p.i%100, p.i, p.i, p.i)
			p.i++
		}
	}
	n := copy(b, p.pending)
	p.pending = p.pending[n:]
	p.sent += n
	return n, nil
}

// peakHeapGrowth is peakHeap less the live heap before fn (the benchmark's own
// documents).
func peakHeapGrowth(fn func()) float64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := float64(sample[0].Value.Uint64()) / (1 << 20)
	return max(peakHeap(fn)-base, 0)
}

// BenchmarkPlanMemory measures the peak heap of a check reading a plan through a
// receiver with its default plan cap (32 MiB): Plan on a 30 MB plan (decoded whole),
// the README's PlanJSON streaming on the same plan, and Plan refusing a 200 MB plan
// served with its length declared, without it, and as gzip.
func BenchmarkPlanMemory(b *testing.B) {
	plan48 := func(w http.ResponseWriter) { _, _ = io.Copy(w, &planStream{size: 30 << 20}) }
	endless := func() io.Reader {
		return io.MultiReader(strings.NewReader(`{"resource_changes":[`), &Repeat{Chunk: planElement, N: streamSize})
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = io.Copy(zw, endless())
	_ = zw.Close()
	var serve func(w http.ResponseWriter)
	blob := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serve(w) }))
	defer blob.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/json-output") {
			http.Redirect(w, r, blob.URL+"/v1/object/signed", http.StatusTemporaryRedirect)
		}
	}))
	defer api.Close()

	cases := []struct {
		name  string
		serve func(w http.ResponseWriter)
		read  func(ctx context.Context, d *tfc.Delivery) error
	}{
		{"plan-30MB/Plan", plan48, func(ctx context.Context, d *tfc.Delivery) error {
			_, err := d.Plan(ctx)
			return err
		}},
		{"plan-30MB/PlanJSON-stream", plan48, func(ctx context.Context, d *tfc.Delivery) error {
			rc, err := d.PlanJSON(ctx)
			if err != nil {
				return err
			}
			defer rc.Close()
			return streamResourceChanges(rc)
		}},
		{"plan-200MB-declared/Plan-refused", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", fmt.Sprint(streamSize+21))
			_, _ = io.Copy(w, endless())
		}, refusedPlan},
		{"plan-200MB-chunked/Plan-refused", func(w http.ResponseWriter) { _, _ = io.Copy(w, endless()) }, refusedPlan},
		{"gzip-200MB/Plan-refused", func(w http.ResponseWriter) { // about 1 MB on the wire
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(gz.Bytes())
		}, refusedPlan},
	}
	raw, err := os.ReadFile("../testdata/runtask_request_post_plan.json")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			serve = c.serve
			errs := make(chan error, 1)
			r, err := tfc.NewReceiver(func(ctx context.Context, d *tfc.Delivery) (tfc.TaskResultUpdate, error) {
				errs <- c.read(ctx, d)
				return tfc.Passed("read"), nil
			}, tfc.WithHMACKeys(benchKey), tfc.WithAllowedHosts(strings.TrimPrefix(api.URL, "http://")), tfc.InsecureAllowHTTP(), tfc.WithHeartbeat(0))
			if err != nil {
				b.Fatal(err)
			}
			defer r.Shutdown(context.Background())
			for i := 0; b.Loop(); i++ {
				var p map[string]any
				_ = json.Unmarshal(raw, &p)
				p["task_result_id"] = fmt.Sprintf("taskrs-plan-%s-%d", c.name, i)
				p["task_result_callback_url"] = api.URL + "/api/v2/task-results/x/callback"
				p["plan_json_api_url"] = api.URL + "/api/v2/plans/plan-1/json-output"
				delete(p, "configuration_version_download_url")
				body, _ := json.Marshal(p)
				b.ReportMetric(peakHeapGrowth(func() {
					req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
					req.Header.Set(tfc.SignatureHeader, tfc.Sign(benchKey, body))
					rec := httptest.NewRecorder()
					r.ServeHTTP(rec, req)
					if rec.Code != 200 {
						b.Fatal(rec.Code)
					}
					if err := <-errs; err != nil {
						b.Fatal(err)
					}
				}), "peak-heap-MiB")
			}
		})
	}
}

func refusedPlan(ctx context.Context, d *tfc.Delivery) error {
	if _, err := d.Plan(ctx); !errors.Is(err, tfc.ErrPlanTooLarge) {
		return fmt.Errorf("want ErrPlanTooLarge, got %v", err)
	}
	return nil
}

// streamResourceChanges reads a plan's resource changes one at a time, as the README's
// large-plan example does.
func streamResourceChanges(r io.Reader) error {
	dec := json.NewDecoder(r)
	if _, err := dec.Token(); err != nil {
		return err
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return err
		}
		if key != "resource_changes" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return err
			}
			continue
		}
		if _, err := dec.Token(); err != nil {
			return err
		}
		for dec.More() {
			var rc tfjson.ResourceChange
			if err := dec.Decode(&rc); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return err
		}
	}
	return nil
}
