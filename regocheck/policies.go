package regocheck

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// Policies are compiled Rego policies, ready to judge plans. Load or LoadFS makes
// them; their methods are safe for concurrent use.
type Policies struct {
	rules []*rule // in evaluation order: namespaces as given, failures before warnings, by name
	files int
}

// Option configures Load and LoadFS.
type Option func(*config)

type config struct {
	namespaces    []string
	allNamespaces bool
	regoVersion   ast.RegoVersion
	data          map[string]any
	strictErrors  bool
}

// WithNamespaces sets the packages whose rules are evaluated, in the order given
// (conftest's --namespace), "main" by default; options given more than once add up.
// A namespace is a package path without "data.": "terraform.aws" for `package
// terraform.aws`. A namespace named twice is evaluated once. Load fails when any
// namespace named has no deny, violation or warn rule, naming it and the packages
// found, so that a misspelt namespace does not silently check nothing.
func WithNamespaces(namespaces ...string) Option {
	return func(c *config) { c.namespaces = append(c.namespaces, namespaces...) }
}

// WithAllNamespaces evaluates the rules of every package (conftest's
// --all-namespaces).
func WithAllNamespaces() Option {
	return func(c *config) { c.allNamespaces = true }
}

// WithRegoV0 parses the policies as Rego v0 (`deny[msg] { … }`), as conftest does
// with --rego-version v0. Without it they are Rego v1 (`deny contains msg if { … }`),
// conftest's default. With it, a file that says `import rego.v1` is still read as v1.
func WithRegoV0() Option {
	return func(c *config) { c.regoVersion = ast.RegoV0 }
}

// WithData makes doc the base data document the policies read under data (conftest's
// --data, decoded by the caller), for example {"allowed_regions": […]} as
// data.allowed_regions. doc must hold only JSON values (maps with string keys,
// slices, strings, numbers, booleans and nil); Load returns an error for any other.
func WithData(doc map[string]any) Option {
	return func(c *config) { c.data = doc }
}

// WithStrictBuiltinErrors makes an error in a built-in function fail the evaluation
// (OPA's strict-builtin-errors mode): to_number("eighty") or a built-in given the
// wrong type (abs("x")) makes Evaluate return an *EvalError with Code
// "eval_builtin_error" or "eval_type_error", so that the delivery fails. Without it,
// as in conftest (and OPA by default), such a call is undefined: the rule body
// containing it does not hold, and reports nothing. The default keeps the denials
// conftest gives; this option suits policies that must not pass on data they could
// not read.
func WithStrictBuiltinErrors() Option {
	return func(c *config) { c.strictErrors = true }
}

// Load reads and compiles every .rego file under dir (its subdirectories included).
// See LoadFS.
func Load(dir string, opts ...Option) (*Policies, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("regocheck: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("regocheck: %s is not a directory", dir)
	}
	return load(os.DirFS(dir), dir, opts)
}

// LoadFS reads and compiles every .rego file of fsys (files whose names end in
// _test.rego included, as conftest does). It fails, before anything is evaluated,
// when there is no .rego file, when a file does not parse or compile (the error names
// the file and line of each problem), when a deny, violation or warn rule cannot
// collect messages, or when a namespace evaluated (WithNamespaces, "main" by
// default) has no deny, violation or warn rule, or with WithAllNamespaces no package
// has one (a misspelt namespace would otherwise pass every plan).
func LoadFS(fsys fs.FS, opts ...Option) (*Policies, error) {
	return load(fsys, "", opts)
}

func load(fsys fs.FS, root string, opts []Option) (*Policies, error) {
	cfg := config{regoVersion: ast.RegoV1}
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	if len(cfg.namespaces) == 0 {
		cfg.namespaces = []string{"main"}
	}
	// A namespace named twice is evaluated once, where it was first named.
	cfg.namespaces = uniqueInOrder(cfg.namespaces)
	modules, err := parseFiles(fsys, root, cfg.regoVersion)
	if err != nil {
		return nil, err
	}
	compiler := ast.NewCompiler().WithEnablePrintStatements(false)
	if compiler.Compile(modules); compiler.Failed() {
		return nil, fmt.Errorf("regocheck: compiling the policies: %w", compiler.Errors)
	}
	namespaces := cfg.namespaces
	if cfg.allNamespaces {
		namespaces = nil
	}
	// The rules are judged as written: compiling rewrites a comprehension in a rule's
	// head into a variable, which would hide an object comprehension.
	found, err := findRules(modules, namespaces)
	if err != nil {
		return nil, err
	}
	// Written through WriteOne, which returns an error for data that is not JSON (a
	// func, a channel), where inmem.NewFromObject would panic.
	store := inmem.New()
	if cfg.data != nil {
		if err := storage.WriteOne(context.Background(), store, storage.AddOp, storage.RootPath, cfg.data); err != nil {
			return nil, fmt.Errorf("regocheck: the data document given to WithData: %w", err)
		}
	}
	evalOpts := []func(*rego.Rego){rego.Compiler(compiler), rego.Store(store)}
	if cfg.strictErrors {
		evalOpts = append(evalOpts, rego.StrictBuiltinErrors(true))
	}
	p := &Policies{files: len(modules)}
	for _, r := range found {
		if err := r.prepare(evalOpts); err != nil {
			return nil, err
		}
		p.rules = append(p.rules, r)
	}
	return p, nil
}

// uniqueInOrder returns names without repeats, each where it first appears.
func uniqueInOrder(names []string) []string {
	seen := map[string]bool{}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// parseFiles parses every .rego file of fsys, named by its path under root.
func parseFiles(fsys fs.FS, root string, version ast.RegoVersion) (map[string]*ast.Module, error) {
	modules := map[string]*ast.Module{}
	var problems []error
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(name, ".rego") {
			return err
		}
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		file := name
		if root != "" {
			file = path.Join(strings.TrimSuffix(root, "/"), name)
		}
		m, err := ast.ParseModuleWithOpts(file, string(src), ast.ParserOptions{RegoVersion: version, ProcessAnnotation: true})
		if err != nil {
			problems = append(problems, err)
			return nil
		}
		modules[file] = m
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("regocheck: reading the policies: %w", err)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("regocheck: parsing the policies: %w", errors.Join(problems...))
	}
	if len(modules) == 0 {
		return nil, errors.New("regocheck: no .rego files found")
	}
	return modules, nil
}

// Files returns how many .rego files were loaded.
func (p *Policies) Files() int { return p.files }

// Rules returns the rules that are evaluated, as queries ("data.main.deny"), in
// evaluation order.
func (p *Policies) Rules() []string {
	out := make([]string, len(p.rules))
	for i, r := range p.rules {
		out[i] = r.query
	}
	return out
}

// prepare compiles the rule's query (and its exception query) once, with opts (the
// compiler, the store, the evaluation's settings).
func (r *rule) prepare(opts []func(*rego.Rego)) error {
	prep := func(query string) (rego.PreparedEvalQuery, error) {
		return rego.New(append([]func(*rego.Rego){rego.Query(query)}, opts...)...).PrepareForEval(context.Background())
	}
	var err error
	if r.prepared, err = prep(r.query); err != nil {
		return fmt.Errorf("regocheck: preparing %s: %w", r.query, err)
	}
	if r.exceptionQuery != "" {
		q, err := prep(r.exceptionQuery)
		if err != nil {
			return fmt.Errorf("regocheck: preparing %s: %w", r.exceptionQuery, err)
		}
		r.exception = &q
	}
	return nil
}
