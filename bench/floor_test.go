package bench

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// BenchmarkDecodeTaskStageFloor is one typed encoding/json decode of the task stage
// document with its included results: the floor for any encoding/json client.
func BenchmarkDecodeTaskStageFloor(b *testing.B) {
	doc := TaskStageWithResults(20)
	type attrs struct {
		Message, Status, URL, Stage string
		TaskID                      string               `json:"task-id"`
		TaskName                    string               `json:"task-name"`
		TaskURL                     string               `json:"task-url"`
		WorkspaceTaskID             string               `json:"workspace-task-id"`
		Enforcement                 string               `json:"workspace-task-enforcement-level"`
		IsSpeculative               bool                 `json:"is-speculative"`
		CreatedAt                   time.Time            `json:"created-at"`
		UpdatedAt                   time.Time            `json:"updated-at"`
		StatusTimestamps            map[string]time.Time `json:"status-timestamps"`
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		var d struct {
			Data struct {
				ID         string `json:"id"`
				Attributes attrs  `json:"attributes"`
			} `json:"data"`
			Included []struct {
				ID         string `json:"id"`
				Type       string `json:"type"`
				Attributes attrs  `json:"attributes"`
			} `json:"included"`
		}
		if err := json.NewDecoder(bytes.NewReader(doc)).Decode(&d); err != nil || len(d.Included) != 20 {
			b.Fatal(err)
		}
	}
}
