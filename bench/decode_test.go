package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	tfe "github.com/hashicorp/go-tfe"

	"github.com/tfkit/tfc"
)

// The decode benchmarks run each client's List or Read over the in-memory Canned
// transport: everything a call costs except the network, on the same bytes.

func tfcClient(b *testing.B, rt http.RoundTripper) *tfc.Client {
	c, err := tfc.NewClient(tfc.WithAddress("https://app.terraform.io"), tfc.WithToken("bench-token"),
		tfc.WithHTTPClient(&http.Client{Transport: rt}), tfc.WithRateLimit(0))
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func tfeClient(b *testing.B, rt http.RoundTripper, address string) *tfe.Client {
	c, err := tfe.NewClient(&tfe.Config{Address: address, Token: "bench-token", HTTPClient: &http.Client{Transport: rt}})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func fixed(body []byte) Canned {
	return Canned{Route: func(*http.Request) (int, []byte) { return http.StatusOK, body }}
}

func BenchmarkDecodeRunTaskPage(b *testing.B) {
	page := RunTaskPage(100, 1, 100)
	ctx := context.Background()
	b.Run("tfc", func(b *testing.B) {
		c := tfcClient(b, fixed(page))
		opts := &tfc.RunTaskListOptions{ListOptions: tfc.ListOptions{PageSize: 100}}
		b.SetBytes(int64(len(page)))
		b.ReportAllocs()
		for b.Loop() {
			p, err := c.RunTasks.List(ctx, "hashicorp", opts)
			if err != nil || len(p.Items) != 100 {
				b.Fatal(err)
			}
		}
	})
	b.Run("go-tfe", func(b *testing.B) {
		c := tfeClient(b, fixed(page), "https://app.terraform.io")
		opts := &tfe.RunTaskListOptions{ListOptions: tfe.ListOptions{PageSize: 100}}
		b.SetBytes(int64(len(page)))
		b.ReportAllocs()
		for b.Loop() {
			p, err := c.RunTasks.List(ctx, "hashicorp", opts)
			if err != nil || len(p.Items) != 100 {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		// The floor: one typed encoding/json decode of the same page, no client.
		b.SetBytes(int64(len(page)))
		b.ReportAllocs()
		for b.Loop() {
			var doc struct {
				Data []struct {
					ID         string `json:"id"`
					Attributes struct {
						Name, URL, Description, Category string
						Enabled                          bool
						CreatedAt                        time.Time `json:"created-at"`
					} `json:"attributes"`
				} `json:"data"`
			}
			if err := json.NewDecoder(bytes.NewReader(page)).Decode(&doc); err != nil || len(doc.Data) != 100 {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecodePolicyCheckPage(b *testing.B) {
	page := PolicyCheckPage(100)
	ctx := context.Background()
	b.Run("tfc", func(b *testing.B) {
		c := tfcClient(b, fixed(page))
		b.SetBytes(int64(len(page)))
		b.ReportAllocs()
		for b.Loop() {
			p, err := c.PolicyChecks.List(ctx, "run-veDoQbv6xh6TbnJD", nil)
			if err != nil || len(p.Items) != 100 {
				b.Fatal(err)
			}
		}
	})
	b.Run("go-tfe", func(b *testing.B) {
		c := tfeClient(b, fixed(page), "https://app.terraform.io")
		b.SetBytes(int64(len(page)))
		b.ReportAllocs()
		for b.Loop() {
			p, err := c.PolicyChecks.List(ctx, "run-veDoQbv6xh6TbnJD", nil)
			if err != nil || len(p.Items) != 100 {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecodeTaskStageIncluded(b *testing.B) {
	doc := TaskStageWithResults(20)
	ctx := context.Background()
	b.Run("tfc", func(b *testing.B) {
		c := tfcClient(b, fixed(doc))
		opts := &tfc.TaskStageReadOptions{Include: []tfc.TaskStageInclude{tfc.TaskStageIncludeTaskResults}}
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			ts, err := c.TaskStages.Read(ctx, "ts-rL5ZsuwfjqfPJcdi", opts)
			if err != nil || len(ts.TaskResults) != 20 || ts.TaskResults[19].Status != tfc.TaskResultPassed {
				b.Fatal(err)
			}
		}
	})
	b.Run("go-tfe", func(b *testing.B) {
		c := tfeClient(b, fixed(doc), "https://app.terraform.io")
		opts := &tfe.TaskStageReadOptions{Include: []tfe.TaskStageIncludeOpt{tfe.TaskStageTaskResults}}
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			ts, err := c.TaskStages.Read(ctx, "ts-rL5ZsuwfjqfPJcdi", opts)
			if err != nil || len(ts.TaskResults) != 20 || ts.TaskResults[19].Status != tfe.TaskPassed {
				b.Fatal(err)
			}
		}
	})
}

// The encode benchmarks send a create and an update over Canned, answered with the
// smallest valid document, so what differs is building and encoding the body.
func BenchmarkEncodeRunTask(b *testing.B) {
	small := []byte(`{"data":{"id":"task-1","type":"tasks","attributes":{"name":"x"}}}`)
	ctx := context.Background()
	b.Run("create/tfc", func(b *testing.B) {
		c := tfcClient(b, fixed(small))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.RunTasks.Create(ctx, "hashicorp", tfc.RunTaskCreateOptions{Name: "example", URL: "http://example.com",
				Description: "Simple description", HMACKey: "secret", Enabled: tfc.Ptr(true),
				GlobalConfiguration: &tfc.RunTaskGlobalConfigurationOptions{Enabled: tfc.Ptr(true), Stages: []tfc.Stage{tfc.StagePrePlan}, EnforcementLevel: tfc.EnforcementMandatory},
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("create/go-tfe", func(b *testing.B) {
		mandatory := tfe.Mandatory
		c := tfeClient(b, fixed(small), "https://app.terraform.io")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.RunTasks.Create(ctx, "hashicorp", tfe.RunTaskCreateOptions{Name: "example", URL: "http://example.com",
				Description: tfe.String("Simple description"), HMACKey: tfe.String("secret"), Enabled: tfe.Bool(true), Category: "task",
				Global: &tfe.GlobalRunTaskOptions{Enabled: tfe.Bool(true), Stages: &[]tfe.Stage{tfe.PrePlan}, EnforcementLevel: &mandatory},
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("update/tfc", func(b *testing.B) {
		c := tfcClient(b, fixed(small))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.RunTasks.Update(ctx, "task-1", tfc.RunTaskUpdateOptions{Name: tfc.Ptr("new-example"),
				URL: tfc.Ptr("http://new-example.com"), Description: tfc.Set("New description"), Enabled: tfc.Ptr(false)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("update/go-tfe", func(b *testing.B) {
		c := tfeClient(b, fixed(small), "https://app.terraform.io")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.RunTasks.Update(ctx, "task-1", tfe.RunTaskUpdateOptions{Name: tfe.String("new-example"),
				URL: tfe.String("http://new-example.com"), Description: tfe.String("New description"), Enabled: tfe.Bool(false)}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
