package pagedrange

// Tests that hold the binding to the C header it is built against: every
// function is called, every constant is used, and there is one sentinel
// per status, with the header's names and values. A function, status or
// rule added to pagedrange.h fails them until the binding wraps it.

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// cComments matches C block and line comments.
var cComments = regexp.MustCompile(`(?s)/\*.*?\*/|//[^\n]*`)

// header is what the tests read from pagedrange.h.
type header struct {
	functions []string         // declared functions, pr_*
	defines   map[string]int64 // integer #defines, PR_*
}

func readHeader(t *testing.T) header {
	t.Helper()
	path := headerPath(t)
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the header: %v", err)
	}
	text := cComments.ReplaceAllString(string(src), "")
	h := header{defines: map[string]int64{}}
	// A declaration starts at the beginning of a line with its return type:
	// `pr_status pr_range_new(`, `const char *pr_version(`.
	for _, m := range regexp.MustCompile(`(?m)^[A-Za-z_][\w \t*]*?\b(pr_\w+)\s*\(`).FindAllStringSubmatch(text, -1) {
		h.functions = append(h.functions, m[1])
	}
	for _, m := range regexp.MustCompile(`(?m)^#define[ \t]+(PR_\w+)[ \t]+\(?(-?\d+)\)?[ \t]*$`).FindAllStringSubmatch(text, -1) {
		v, err := strconv.ParseInt(m[2], 10, 64)
		if err != nil {
			t.Fatalf("#define %s %s: %v", m[1], m[2], err)
		}
		h.defines[m[1]] = v
	}
	// The parser must have understood the header: a few known items.
	for _, f := range []string{"pr_version", "pr_range_new", "pr_status_str"} {
		if !contains(h.functions, f) {
			t.Fatalf("%s: found no declaration of %s (%d functions found): the parser is broken", path, f, len(h.functions))
		}
	}
	for _, d := range []string{"PR_OK", "PR_PAGE_SIZE", "PR_ERR_NULL_ARGUMENT"} {
		if _, ok := h.defines[d]; !ok {
			t.Fatalf("%s: found no #define %s: the parser is broken", path, d)
		}
	}
	return h
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// binding is what the binding's own sources (not its tests) use of C.
type binding struct {
	calls  map[string]bool              // C functions called: C.pr_x(...) in Go, pr_x(...) in C
	refs   map[string]bool              // every C.X selector in Go
	consts map[string]string            // Go constant -> the C.PR_* it is defined as
	vars   map[string]*ast.CompositeLit // Go variable -> its &T{...} initializer
	list   []string                     // the elements of the `sentinels` slice, in order
}

func readBinding(t *testing.T) binding {
	t.Helper()
	b := binding{calls: map[string]bool{}, refs: map[string]bool{}, consts: map[string]string{}, vars: map[string]*ast.CompositeLit{}}
	goFiles, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	for _, name := range goFiles {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				if sel, ok := cSelector(n.Fun); ok {
					b.calls[sel] = true
				}
			case *ast.SelectorExpr:
				if sel, ok := cSelector(n); ok {
					b.refs[sel] = true
				}
			case *ast.ValueSpec:
				for i, id := range n.Names {
					if i >= len(n.Values) {
						break
					}
					if sel, ok := cSelector(n.Values[i]); ok {
						b.consts[id.Name] = sel
					}
					if u, ok := n.Values[i].(*ast.UnaryExpr); ok && u.Op == token.AND {
						if lit, ok := u.X.(*ast.CompositeLit); ok {
							b.vars[id.Name] = lit
						}
					}
					if lit, ok := n.Values[i].(*ast.CompositeLit); ok && id.Name == "sentinels" {
						for _, e := range lit.Elts {
							if el, ok := e.(*ast.Ident); ok {
								b.list = append(b.list, el.Name)
							}
						}
					}
				}
			}
			return true
		})
	}
	cFiles, _ := filepath.Glob("*.c")
	call := regexp.MustCompile(`\b(pr_\w+)\s*\(`)
	for _, name := range cFiles {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range call.FindAllStringSubmatch(cComments.ReplaceAllString(string(src), ""), -1) {
			b.calls[m[1]] = true
		}
	}
	if !b.calls["pr_version"] || !b.calls["pr_memory_new_callbacks"] {
		t.Fatalf("found no call of pr_version (Go) or pr_memory_new_callbacks (shim.c) in %v %v: the scan is broken", goFiles, cFiles)
	}
	return b
}

// cSelector returns X for an expression C.X.
func cSelector(e ast.Expr) (string, bool) {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return "", false
	}
	if id, ok := sel.X.(*ast.Ident); !ok || id.Name != "C" {
		return "", false
	}
	return sel.Sel.Name, true
}

// goName spells a C constant's suffix as Go does: NULL_ARGUMENT ->
// NullArgument, INVALID_GPN -> InvalidGPN.
func goName(suffix string) string {
	var b strings.Builder
	for _, w := range strings.Split(suffix, "_") {
		switch w {
		case "OK", "GPN", "GPA", "SIGBUS", "SIGSEGV":
			b.WriteString(w)
		default:
			b.WriteString(w[:1] + strings.ToLower(w[1:]))
		}
	}
	return b.String()
}

// withPrefix returns the defines starting with prefix, sorted by name.
func (h header) withPrefix(prefix string) []string {
	var names []string
	for name := range h.defines {
		if strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

func TestHeaderFunctionsAreWrapped(t *testing.T) {
	h := readHeader(t)
	b := readBinding(t)
	for _, f := range h.functions {
		if !b.calls[f] {
			t.Errorf("%s is declared in pagedrange.h but the binding never calls it", f)
		}
	}
	t.Logf("%d functions in the header, all called", len(h.functions))
}

func TestHeaderConstantsAreUsed(t *testing.T) {
	h := readHeader(t)
	b := readBinding(t)
	for name := range h.defines {
		if !b.refs[name] {
			t.Errorf("#define %s in pagedrange.h is not used by the binding (C.%s)", name, name)
		}
	}
}

// One sentinel per PR_ERR_* status, named after it, with its value; one
// Status constant per status; one ChainRule per PR_CHAIN_* rule.
func TestSentinelsMatchHeader(t *testing.T) {
	h := readHeader(t)
	b := readBinding(t)

	if len(b.list) != len(sentinels) {
		t.Fatalf("the sentinels slice has %d elements but the source lists %d names", len(sentinels), len(b.list))
	}
	byName := map[string]*Error{}
	for i, name := range b.list {
		byName[name] = sentinels[i]
	}
	errDefines := h.withPrefix("PR_ERR_")
	for _, c := range errDefines {
		want := h.defines[c]
		name := "Err" + goName(strings.TrimPrefix(c, "PR_ERR_"))
		s, ok := byName[name]
		if !ok {
			t.Errorf("%s = %d: no sentinel %s in the sentinels slice", c, want, name)
			continue
		}
		if int64(s.Status) != want {
			t.Errorf("%s has status %d, %s is %d", name, s.Status, c, want)
		}
		if str := s.Status.String(); str == "" || str == StatusOK.String() || str == Status(1<<31).String() {
			t.Errorf("%s: the library describes status %d as %q", c, want, str)
		}
	}
	if len(byName) != len(errDefines) {
		t.Errorf("%d sentinels %v for %d PR_ERR_* defines %v", len(byName), b.list, len(errDefines), errDefines)
	}
	// Every exported Err* = &Error{...} is in the slice (so the check above
	// saw it), and its Status constant stands for the status it is named
	// after.
	for name, lit := range b.vars {
		if !strings.HasPrefix(name, "Err") {
			continue
		}
		if id, ok := lit.Type.(*ast.Ident); !ok || id.Name != "Error" {
			continue
		}
		if _, ok := byName[name]; !ok {
			t.Errorf("sentinel %s is missing from the sentinels slice", name)
		}
		if len(lit.Elts) != 1 {
			t.Errorf("sentinel %s sets more than its Status", name)
			continue
		}
		kv, _ := lit.Elts[0].(*ast.KeyValueExpr)
		if kv == nil || !isIdent(kv.Key, "Status") || !isIdent(kv.Value, "Status"+strings.TrimPrefix(name, "Err")) {
			t.Errorf("sentinel %s is not &Error{Status: Status%s}", name, strings.TrimPrefix(name, "Err"))
		}
	}
	for _, c := range append([]string{"PR_OK"}, errDefines...) {
		name := "Status" + goName(strings.TrimPrefix(strings.TrimPrefix(c, "PR_ERR_"), "PR_"))
		if b.consts[name] != c {
			t.Errorf("%s: want the constant %s = C.%s, found %q", c, name, c, b.consts[name])
		}
	}
	for i, s := range sentinels {
		for j, o := range sentinels {
			if errors.Is(s, o) != (i == j) {
				t.Errorf("errors.Is(%s, %s) = %v", b.list[i], b.list[j], !(i == j))
			}
		}
	}

	for _, c := range h.withPrefix("PR_CHAIN_") {
		name := "Chain" + goName(strings.TrimPrefix(c, "PR_CHAIN_"))
		if b.consts[name] != c {
			t.Errorf("%s: want the ChainRule %s = C.%s, found %q", c, name, c, b.consts[name])
		}
		if s := ChainRule(h.defines[c]).String(); s == ChainRule(0).String() {
			t.Errorf("%s = %d: the library does not know the rule (%q)", c, h.defines[c], s)
		}
	}
	for _, c := range h.withPrefix("PR_FAULT_") {
		name := "Fault" + goName(strings.TrimPrefix(c, "PR_FAULT_"))
		if b.consts[name] != c {
			t.Errorf("%s: want the FaultCode %s = C.%s, found %q", c, name, c, b.consts[name])
		}
	}
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}
