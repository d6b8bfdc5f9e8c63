package tfc_test

import (
	"bytes"
	"go/format"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeGoBlocksCompile keeps the README honest: every ```go block must be a
// gofmt-clean program that stands verbatim in a file of readme_examples/ (or of a
// nested module's readme_examples/), which the normal build compiles and vets.
func TestReadmeGoBlocksCompile(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := goBlocks(string(readme))
	if len(blocks) == 0 {
		t.Fatal("README has no go blocks")
	}
	files, err := filepath.Glob(filepath.Join("readme_examples", "*", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	// A snippet that imports a nested module (regocheck/) lives in that module's own
	// readme_examples/, which the module's build compiles (.ci/run vets it).
	nested, err := filepath.Glob(filepath.Join("*", "readme_examples", "*", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, nested...)
	var sources []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, string(b))
	}
	for i, block := range blocks {
		if formatted, err := format.Source([]byte(block)); err != nil || !bytes.Equal(formatted, []byte(block)) {
			t.Errorf("README go block %d is not gofmt-clean Go (%v)", i+1, err)
		}
		found := false
		for _, src := range sources {
			if src == block {
				found = true
			}
		}
		if !found {
			t.Errorf("README go block %d is not a file of readme_examples/*/; copy it there so it compiles:\n%s", i+1, block)
		}
	}
}

func goBlocks(md string) []string {
	var blocks []string
	for {
		start := strings.Index(md, "```go\n")
		if start < 0 {
			return blocks
		}
		md = md[start+len("```go\n"):]
		end := strings.Index(md, "```\n")
		if end < 0 {
			return blocks
		}
		blocks = append(blocks, md[:end])
		md = md[end:]
	}
}
