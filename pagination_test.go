package tfc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// runTaskPages serves GET /organizations/:org/tasks from total generated run tasks,
// paginated like the service (page[size] default 20, at most 100).
type runTaskPages struct {
	total    int
	requests atomic.Int64
	sizes    []string // page[size] of each request
	// mangle, if set, may rewrite the meta.pagination of a page.
	mangle func(page int, p *Pagination)
}

func (s *runTaskPages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	q := r.URL.Query()
	s.sizes = append(s.sizes, q.Get("page[size]"))
	number, size := atoiOr(q.Get("page[number]"), 1), atoiOr(q.Get("page[size]"), 20)
	w.Header().Set("Content-Type", mediaTypeJSONAPI)
	_, _ = w.Write(runTaskPageJSON(s.total, number, size, s.mangle))
}

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil && n > 0 {
		return n
	}
	return def
}

// runTaskPageJSON renders page number of a list of total run tasks, shaped like the
// documented list response.
func runTaskPageJSON(total, number, size int, mangle func(int, *Pagination)) []byte {
	pages := max((total+size-1)/size, 1)
	var b strings.Builder
	b.WriteString(`{"data":[`)
	for i := (number - 1) * size; i < min(number*size, total); i++ {
		if i > (number-1)*size {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"task-%06d","type":"tasks","attributes":{"category":"task","name":"task-%d","url":"https://example.com/hooks/%d","description":"Checks plan number %d","enabled":true,"hmac-key":null,"global-configuration":{"enabled":false,"stages":["post_plan"],"enforcement-level":"advisory"},"created-at":"2026-11-01T10:00:00.000Z","updated-at":"2026-11-02T10:00:00.000Z"},"relationships":{"organization":{"data":{"id":"hashicorp","type":"organizations"}},"workspace-tasks":{"data":[]}},"links":{"self":"/api/v2/tasks/task-%06d"}}`, i, i, i, i, i)
	}
	p := Pagination{CurrentPage: number, PageSize: size, TotalPages: pages, TotalCount: total}
	if number > 1 {
		p.PrevPage = number - 1
	}
	if number < pages {
		p.NextPage = number + 1
	}
	if mangle != nil {
		mangle(number, &p)
	}
	nullable := func(n int) string {
		if n == 0 {
			return "null"
		}
		return strconv.Itoa(n)
	}
	fmt.Fprintf(&b, `],"links":{"self":"x"},"meta":{"pagination":{"current-page":%d,"page-size":%d,"prev-page":%s,"next-page":%s,"total-pages":%d,"total-count":%d}}}`,
		p.CurrentPage, p.PageSize, nullable(p.PrevPage), nullable(p.NextPage), p.TotalPages, p.TotalCount)
	return []byte(b.String())
}

func TestAllAcrossPages(t *testing.T) {
	api := newTestAPI(t)
	pages := &runTaskPages{total: 250}
	api.mux.Handle("GET /api/v2/organizations/hashicorp/tasks", pages)
	var ids []string
	for task, err := range api.client.RunTasks.All(context.Background(), "hashicorp", nil) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, task.ID)
	}
	if len(ids) != 250 || ids[0] != "task-000000" || ids[249] != "task-000249" {
		t.Fatalf("got %d items, first %v", len(ids), ids[:min(len(ids), 2)])
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("%s yielded twice", id)
		}
		seen[id] = true
	}
	if pages.requests.Load() != 3 || pages.sizes[0] != "100" {
		t.Errorf("requests = %d, page sizes %v; want 3 requests of 100", pages.requests.Load(), pages.sizes)
	}
}

func TestAllKeepsCallerOptions(t *testing.T) {
	api := newTestAPI(t)
	pages := &runTaskPages{total: 45}
	api.mux.Handle("GET /api/v2/organizations/hashicorp/tasks", pages)
	opts := &RunTaskListOptions{ListOptions: ListOptions{PageSize: 20}}
	n := 0
	for _, err := range api.client.RunTasks.All(context.Background(), "hashicorp", opts) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 45 || pages.requests.Load() != 3 {
		t.Errorf("items %d, requests %d; want 45 and 3", n, pages.requests.Load())
	}
	if opts.PageNumber != 0 || opts.PageSize != 20 {
		t.Errorf("All modified the caller's options: %+v", opts.ListOptions)
	}
}

func TestAllStopsOnBreak(t *testing.T) {
	api := newTestAPI(t)
	pages := &runTaskPages{total: 500}
	api.mux.Handle("GET /api/v2/organizations/hashicorp/tasks", pages)
	n := 0
	for _, err := range api.client.RunTasks.All(context.Background(), "hashicorp", nil) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 5 {
			break
		}
	}
	if pages.requests.Load() != 1 {
		t.Errorf("requests = %d after breaking on the first page", pages.requests.Load())
	}
}

func TestAllCancelledMidway(t *testing.T) {
	api := newTestAPI(t)
	pages := &runTaskPages{total: 500}
	api.mux.Handle("GET /api/v2/organizations/hashicorp/tasks", pages)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, errs := 0, 0
	for _, err := range api.client.RunTasks.All(ctx, "hashicorp", nil) {
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("error = %v, want context.Canceled", err)
			}
			errs++
			continue
		}
		if n++; n == 150 {
			cancel()
		}
	}
	if n != 200 || errs != 1 || pages.requests.Load() != 2 {
		t.Errorf("items %d, errors %d, requests %d; want the two pages fetched before the cancel, then one error", n, errs, pages.requests.Load())
	}
}

func TestAllDetectsBrokenPagination(t *testing.T) {
	tests := map[string]func(int, *Pagination){
		"page repeats":              func(page int, p *Pagination) { p.NextPage = page },
		"next goes backwards":       func(page int, p *Pagination) { p.NextPage = 1; p.CurrentPage = page },
		"answers with another page": func(page int, p *Pagination) { p.CurrentPage = page + 5 },
	}
	for name, mangle := range tests {
		api := newTestAPI(t)
		api.mux.Handle("GET /api/v2/organizations/hashicorp/tasks", &runTaskPages{total: 300, mangle: func(page int, p *Pagination) {
			if page == 2 {
				mangle(page, p)
			}
		}})
		var last error
		n := 0
		for _, err := range api.client.RunTasks.All(context.Background(), "hashicorp", nil) {
			if err != nil {
				last = err
			} else {
				n++
			}
		}
		if last == nil || !strings.Contains(last.Error(), "pagination") || n != 200 {
			t.Errorf("%s: %d items, error %v", name, n, last)
		}
	}

	// An empty page that claims a next one would loop forever.
	api := newTestAPI(t)
	api.mux.HandleFunc("GET /api/v2/organizations/hashicorp/tasks", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"data":[],"meta":{"pagination":{"current-page":1,"next-page":2,"total-pages":9}}}`))
	})
	for _, err := range api.client.RunTasks.All(context.Background(), "hashicorp", nil) {
		if err == nil || !strings.Contains(err.Error(), "empty") {
			t.Errorf("error = %v, want an empty-page error", err)
		}
	}
}

func TestAllWithoutPagination(t *testing.T) {
	api := newTestAPI(t)
	var requests atomic.Int64
	api.mux.HandleFunc("GET /api/v2/organizations/hashicorp/tasks", func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		_, _ = w.Write([]byte(`{"data":[{"id":"task-1","type":"tasks","attributes":{"name":"a"}}]}`))
	})
	n := 0
	for _, err := range api.client.RunTasks.All(context.Background(), "hashicorp", nil) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1 || requests.Load() != 1 {
		t.Errorf("items %d, requests %d", n, requests.Load())
	}
}

func TestAllInvalidPageSize(t *testing.T) {
	api := newTestAPI(t)
	for _, err := range api.client.RunTasks.All(context.Background(), "hashicorp", &RunTaskListOptions{ListOptions: ListOptions{PageSize: 101}}) {
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("error = %v", err)
		}
	}
	if api.hits.Load() != 0 {
		t.Error("a request was sent")
	}
}
