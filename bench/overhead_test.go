package bench

import (
	"context"
	"net/http"
	"testing"
)

// BenchmarkClientOverhead isolates what a Read costs on the client side, over the
// in-memory transport: tfc against a bare http.Client and encoding/json.
func BenchmarkClientOverhead(b *testing.B) {
	rt := fixed([]byte(RunTaskDoc))
	ctx := context.Background()
	b.Run("tfc", func(b *testing.B) {
		c := tfcClient(b, rt)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.RunTasks.Read(ctx, "task-7oD7doVTQdAFnMLV", nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		hc := &http.Client{Transport: rt}
		b.ReportAllocs()
		for b.Loop() {
			var doc struct {
				Data rawRunTask `json:"data"`
			}
			rawGet(b, hc, "https://app.terraform.io/api/v2/tasks/task-7oD7doVTQdAFnMLV", &doc)
		}
	})
}
