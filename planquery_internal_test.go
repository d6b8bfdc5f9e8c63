package tfc

import "testing"

func TestModuleMatches(t *testing.T) {
	for _, tt := range []struct {
		pattern, addr string
		want          bool
	}{
		{"", "", true},
		{"", "module.a", false},
		{"module.a", "", false},
		{"module.a", "module.a", true},
		{"module.a", "module.a[0]", true},
		{"module.a", `module.a["k"]`, true},
		{"module.a[0]", "module.a[0]", true},
		{"module.a[0]", "module.a[1]", false},
		{"module.a[0]", "module.a", false},
		{"module.a", "module.ab", false},
		{"module.a", "module.a.module.b", false},
		{"module.a.module.b", "module.a.module.b", true},
		{"module.a.module.b", `module.a["x"].module.b[3]`, true},
		{`module.a["x"].module.b`, `module.a["y"].module.b`, false},
		// Keys may hold dots, brackets and escaped quotes.
		{`module.a["x.y"]`, `module.a["x.y"]`, true},
		{"module.a", `module.a["x.y]z"].module.b`, false},
		{"module.a.module.b", `module.a["x.y]z"].module.b`, true},
		{"module.a.module.b", `module.a["q\"].module.c"].module.b`, true},
		// Malformed addresses match nothing.
		{"module.a", "module.a[0", false},
		{"module.a", `module.a["x]`, false},
		{"module.a[", "module.a[0]", false},
		{"a", "a", false},
		{"module.", "module.", false},
		{"module.a.", "module.a.", false},
		{"module.a.b", "module.a.b", false},
		{"module.a[0]x", "module.a[0]x", false},
	} {
		if got := moduleMatches(tt.pattern, tt.addr); got != tt.want {
			t.Errorf("moduleMatches(%q, %q) = %v, want %v", tt.pattern, tt.addr, got, tt.want)
		}
	}
}

// FuzzModuleMatches: any pair of strings is answered without a panic, and a module
// address that matches itself as a pattern is matched by its keyless form too.
func FuzzModuleMatches(f *testing.F) {
	for _, s := range []string{"", "module.a", `module.a["x.y"].module.b[0]`, `module.a["q\"]"]`, "module.a[", "module."} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, pattern, addr string) {
		moduleMatches(pattern, addr)
		if addr != "" && moduleMatches(addr, addr) {
			keyless := ""
			for rest := addr; rest != ""; {
				name, _, next, ok := nextModuleStep(rest)
				if !ok {
					t.Fatalf("%q matches itself but does not parse", addr)
				}
				if keyless != "" {
					keyless += "."
				}
				keyless += "module." + name
				rest = next
			}
			if !moduleMatches(keyless, addr) {
				t.Errorf("%q does not match %q", keyless, addr)
			}
		}
	})
}
