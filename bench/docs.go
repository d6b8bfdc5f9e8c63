// Package bench measures tfc side by side with go-tfe v1 (and the raw net/http +
// encoding/json floor) on the same documents and the same loopback servers. It is a
// separate module so that the main module never requires go-tfe. Run ./run.
package bench

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// RunTaskPage renders page number (of size) of total run tasks, shaped like the
// documented GET /organizations/:org/tasks response.
func RunTaskPage(total, number, size int) []byte {
	var b strings.Builder
	b.WriteString(`{"data":[`)
	first := (number - 1) * size
	for i := first; i < min(number*size, total); i++ {
		if i > first {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"task-%06d","type":"tasks","attributes":{"category":"task","name":"task-%d","url":"https://example.com/hooks/%d","description":"Checks plan number %d","enabled":true,"hmac-key":null,"global-configuration":{"enabled":false,"stages":["post_plan"],"enforcement-level":"advisory"},"created-at":"2026-11-01T10:00:00.000Z","updated-at":"2026-11-02T10:00:00.000Z"},"relationships":{"organization":{"data":{"id":"hashicorp","type":"organizations"}},"workspace-tasks":{"data":[]}},"links":{"self":"/api/v2/tasks/task-%06d"}}`, i, i, i, i, i)
	}
	b.WriteString(`],"links":{"self":"x"},`)
	b.WriteString(paginationMeta(total, number, size))
	b.WriteByte('}')
	return []byte(b.String())
}

// PolicyCheckPage renders a page of 100 HCP Terraform policy checks, shaped like the
// documented GET /runs/:run_id/policy-checks response.
func PolicyCheckPage(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"data":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"polchk-%06d","type":"policy-checks","attributes":{"result":{"result":false,"passed":2,"total-failed":1,"hard-failed":0,"soft-failed":1,"advisory-failed":0,"duration-ms":74,"sentinel":{"schema_version":1,"data":{}}},"scope":"organization","status":"soft_failed","status-timestamps":{"queued-at":"2026-11-01T10:00:00+00:00","soft-failed-at":"2026-11-01T10:00:02+00:00"},"actions":{"is-overridable":true},"permissions":{"can-override":true}},"relationships":{"run":{"data":{"id":"run-veDoQbv6xh6TbnJD","type":"runs"}}},"links":{"output":"/api/v2/policy-checks/polchk-%06d/output"}}`, i, i)
	}
	b.WriteString(`],`)
	b.WriteString(paginationMeta(n, 1, 100))
	b.WriteByte('}')
	return []byte(b.String())
}

// TaskStageWithResults renders GET /task-stages/:id?include=task_results with n
// included task results.
func TaskStageWithResults(n int) []byte {
	var rels, inc strings.Builder
	for i := range n {
		if i > 0 {
			rels.WriteByte(',')
			inc.WriteByte(',')
		}
		fmt.Fprintf(&rels, `{"id":"taskrs-%06d","type":"task-results"}`, i)
		fmt.Fprintf(&inc, `{"id":"taskrs-%06d","type":"task-results","attributes":{"message":"No issues found.","status":"passed","status-timestamps":{"passed-at":"2022-06-08T20:32:12+08:00","running-at":"2022-06-08T20:32:11+08:00"},"url":"https://external.service/project/task-%d","created-at":"2022-06-08T12:31:56.954Z","updated-at":"2022-06-08T12:32:12.27Z","task-id":"task-b6MaHZmGopHDtqhn","task-name":"example-task-%d","task-url":"https://external.service/task-123abc","stage":"post_plan","is-speculative":false,"workspace-task-id":"wstask-258juqenQeWb3DZz","workspace-task-enforcement-level":"mandatory"},"relationships":{"task-stage":{"data":{"id":"ts-rL5ZsuwfjqfPJcdi","type":"task-stages"}}}}`, i, i, i)
	}
	return []byte(`{"data":{"id":"ts-rL5ZsuwfjqfPJcdi","type":"task-stages","attributes":{"status":"passed","stage":"post_plan","status-timestamps":{"passed-at":"2022-06-08T20:32:12+08:00","running-at":"2022-06-08T20:32:11+08:00"},"created-at":"2022-06-08T12:31:56.94Z","updated-at":"2022-06-08T12:32:12.315Z"},"relationships":{"run":{"data":{"id":"run-XdgtChJuuUwLoSmw","type":"runs"}},"task-results":{"data":[` +
		rels.String() + `]}},"links":{"self":"/api/v2/task-stages/ts-rL5ZsuwfjqfPJcdi"}},"included":[` + inc.String() + `]}`)
}

// RunTaskDoc is GET /tasks/:id, the documented sample.
const RunTaskDoc = `{"data":{"id":"task-7oD7doVTQdAFnMLV","type":"tasks","attributes":{"category":"task","name":"my-task","url":"http://example.com","description":"Simple description","enabled":true,"hmac-key":null},"relationships":{"organization":{"data":{"id":"hashicorp","type":"organizations"}},"tasks":{"data":[{"id":"task-xjKZw9KaeXda61az","type":"tasks"}]}},"links":{"self":"/api/v2/tasks/task-7oD7doVTQdAFnMLV"}}}`

func paginationMeta(total, number, size int) string {
	pages := max((total+size-1)/size, 1)
	next, prev := "null", "null"
	if number < pages {
		next = strconv.Itoa(number + 1)
	}
	if number > 1 {
		prev = strconv.Itoa(number - 1)
	}
	return fmt.Sprintf(`"meta":{"pagination":{"current-page":%d,"page-size":%d,"prev-page":%s,"next-page":%s,"total-pages":%d,"total-count":%d}}`,
		number, size, prev, next, pages, total)
}

// Canned is an http.RoundTripper that answers every request from memory with the body
// Route returns, so a benchmark measures a client's own work (building the request,
// decoding the answer) without a network. Ping answers go-tfe's /api/v2/ping with no
// rate limit header, which leaves go-tfe's limiter off, as tfc's is in these runs.
type Canned struct {
	Route func(r *http.Request) (status int, body []byte)
}

// RoundTrip answers r.
func (c Canned) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	status, body := http.StatusOK, []byte(nil)
	if !strings.HasSuffix(r.URL.Path, "/ping") {
		status, body = c.Route(r)
	}
	return &http.Response{
		StatusCode:    status,
		Status:        http.StatusText(status),
		Header:        http.Header{"Content-Type": {"application/vnd.api+json"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       r,
	}, nil
}

// Repeat is an io.Reader of n bytes made of chunk over and over, for serving large
// bodies without holding them.
type Repeat struct {
	Chunk []byte
	N     int64
	off   int
}

func (r *Repeat) Read(p []byte) (int, error) {
	if r.N <= 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && r.N > 0 {
		c := copy(p[n:], r.Chunk[r.off:])
		if int64(c) > r.N {
			c = int(r.N)
		}
		n += c
		r.N -= int64(c)
		r.off = (r.off + c) % len(r.Chunk)
	}
	return n, nil
}
