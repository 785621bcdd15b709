// Command inspect prints, as JSON, what the Go harness must know about the submission in the current
// directory (the module root):
//
//   - suite: the test functions, the examples that run (those with an output comment) and the fuzz
//     targets of the root package's *_test.go files, found with the rules of `go test` and in its
//     order (the package's own test files, then those of its `_test` package; files by name);
//   - packages: every directory of the module with non-test Go files, and its package name (the
//     harness adds an import of phronosd's runner to each, so that Go initialises the runner first),
//     those the go command ignores in patterns too (testdata, _x, .x): an import path names them;
//   - refused: what phronosd does not build (a //go:linkname directive, assembly, object files, a
//     go.mod replace by a local directory, and a solution that uses names declared by the tests: in a
//     test build both share a package, so it could change the tests' variables, their expected values
//     among them).
//
// Only files that the build constraints select (CGO_ENABLED=0) count; a file that does not parse is
// skipped, and `go test` reports it.
package main

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/build"
	"go/doc"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

type example struct {
	Name      string `json:"name"`
	Output    string `json:"output"` // a Go string literal
	Unordered bool   `json:"unordered"`
}

type testPackage struct {
	Name     string    `json:"name"`
	External bool      `json:"external"`
	Tests    []string  `json:"tests"`
	Examples []example `json:"examples"`
	Fuzz     []string  `json:"fuzz"`
}

type packageDir struct {
	Dir  string `json:"dir"`
	Name string `json:"name"`
}

type report struct {
	Suite    []*testPackage `json:"suite"`
	Packages []packageDir   `json:"packages"`
	Refused  []string       `json:"refused"`
}

var buildContext = func() build.Context {
	ctx := build.Default
	ctx.CgoEnabled = false
	return ctx
}()

func main() {
	refused := append(append(testNamesUsed("."), localReplacements("go.mod")...), refusals(".")...)
	out := report{Suite: suite("."), Packages: packages("."), Refused: refused}
	json.NewEncoder(os.Stdout).Encode(out)
}

// packages lists the module's package directories: all but nested modules.
func packages(root string) []packageDir {
	found := []packageDir{}
	filepath.WalkDir(root, func(path string, entry fs.DirEntry, err error) error {
		if err != nil || !entry.IsDir() {
			return nil
		}
		if path != root && nestedModule(path) {
			return filepath.SkipDir
		}
		if name := packageName(path); name != "" {
			found = append(found, packageDir{path, name})
		}
		return nil
	})
	return found
}

// refusals checks every file of the submission, nested modules and the directories the go command
// ignores in patterns included: an import path can name those.
func refusals(root string) []string {
	var refused []string
	filepath.WalkDir(root, func(path string, entry fs.DirEntry, err error) error {
		if err == nil && !entry.IsDir() {
			if why := refusal(path); why != "" {
				refused = append(refused, path+": "+why)
			}
		}
		return nil
	})
	return refused
}

func nestedModule(path string) bool {
	_, err := os.Stat(filepath.Join(path, "go.mod"))
	return err == nil
}

// A replacement by a local directory (./x, ../x, /x, . or ..) in a go.mod.
var localReplacement = regexp.MustCompile(`=>\s*"?(/|\.\.?(/|"|\s|$))`)

// localReplacements refuses a go.mod that replaces a module by a directory: it would build code that
// the runner's import does not reach first (a nested module, a folder outside the submission).
func localReplacements(goMod string) []string {
	source, err := os.ReadFile(goMod)
	if err == nil && localReplacement.Match(source) {
		return []string{goMod + ": a replace by a local directory is not accepted"}
	}
	return nil
}

// selected lists the directory's files that the build constraints select, by name.
func selected(dir string, keep func(name string) bool) []string {
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, entry := range entries {
		name := entry.Name()
		if entry.Type().IsRegular() && keep(name) {
			if match, err := buildContext.MatchFile(dir, name); err == nil && match {
				names = append(names, name)
			}
		}
	}
	sort.Strings(names)
	return names
}

func isGo(name string) bool     { return strings.HasSuffix(name, ".go") }
func isTestGo(name string) bool { return strings.HasSuffix(name, "_test.go") }

// packageName is the package clause of the directory's first non-test Go file ("" if none).
func packageName(dir string) string {
	for _, name := range selected(dir, func(name string) bool { return isGo(name) && !isTestGo(name) }) {
		file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, name), nil, parser.PackageClauseOnly)
		if err == nil {
			return file.Name.Name
		}
	}
	return ""
}

// refusal says why a file is not accepted: //go:linkname reaches any package's unexported variables
// (phronosd's token among them), and assembly or object files reach any symbol.
func refusal(path string) string {
	switch filepath.Ext(path) {
	case ".s", ".S", ".sx":
		return "assembly files are not accepted"
	case ".syso":
		return "object files are not accepted"
	case ".go":
		source, err := os.ReadFile(path)
		if err == nil && bytes.Contains(source, []byte("//go:linkname")) {
			return "//go:linkname is not accepted (it reaches other packages' unexported variables)"
		}
	}
	return ""
}

// suite lists the tests, examples and fuzz targets of the directory's test files, in go test's order.
func suite(dir string) []*testPackage {
	internal, external := newTestPackage(false), newTestPackage(true)
	fset := token.NewFileSet()
	for _, name := range selected(dir, isTestGo) {
		file, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			continue
		}
		pkg := internal
		if strings.HasSuffix(file.Name.Name, "_test") {
			pkg = external
		}
		pkg.Name = file.Name.Name
		pkg.add(file)
	}
	packages := []*testPackage{}
	for _, pkg := range []*testPackage{internal, external} {
		if pkg.Name != "" {
			packages = append(packages, pkg)
		}
	}
	return packages
}

func newTestPackage(external bool) *testPackage {
	return &testPackage{External: external, Tests: []string{}, Examples: []example{}, Fuzz: []string{}}
}

func (pkg *testPackage) add(file *ast.File) {
	for _, decl := range file.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok {
			continue
		}
		switch {
		case isTestFunc(fn, "Test", "T"):
			pkg.Tests = append(pkg.Tests, fn.Name.Name)
		case isTestFunc(fn, "Fuzz", "F"):
			pkg.Fuzz = append(pkg.Fuzz, fn.Name.Name)
		}
	}
	examples := doc.Examples(file)
	sort.Slice(examples, func(i, j int) bool { return examples[i].Order < examples[j].Order })
	for _, e := range examples {
		if e.Output != "" || e.EmptyOutput {
			pkg.Examples = append(pkg.Examples, example{"Example" + e.Name, strconv.Quote(e.Output), e.Unordered})
		}
	}
}

// isTestFunc: a name with the prefix not followed by a lower-case letter, one *testing.<param>
// parameter, no receiver, results or type parameters.
func isTestFunc(fn *ast.FuncDecl, prefix, param string) bool {
	name := fn.Name.Name
	if fn.Recv != nil || fn.Type.TypeParams != nil || fn.Type.Results != nil || !strings.HasPrefix(name, prefix) {
		return false
	}
	if next, _ := utf8.DecodeRuneInString(name[len(prefix):]); unicode.IsLower(next) {
		return false
	}
	params := fn.Type.Params.List
	if len(params) != 1 || len(params[0].Names) > 1 {
		return false
	}
	star, ok := params[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	switch typ := star.X.(type) {
	case *ast.SelectorExpr:
		return typ.Sel.Name == param
	case *ast.Ident:
		return typ.Name == param
	}
	return false
}

// testNamesUsed lists the non-test files of the directory's package that use a package-level name
// declared only in its own (not `_test`) test files: such a solution does not build without its tests.
// A name the file leaves unresolved (go/parser's object resolution) is one it did not declare
// itself, locally or at package level in that file.
func testNamesUsed(dir string) []string {
	declared := map[string]bool{}
	for _, name := range selected(dir, isTestGo) {
		file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err == nil && !strings.HasSuffix(file.Name.Name, "_test") {
			for _, ident := range topLevelNames(file) {
				declared[ident] = true
			}
		}
	}
	refused := []string{}
	for _, name := range selected(dir, func(name string) bool { return isGo(name) && !isTestGo(name) }) {
		file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, name), nil, 0)
		if err != nil {
			continue
		}
		var used []string
		for _, ident := range file.Unresolved {
			if declared[ident.Name] && !slices.Contains(used, ident.Name) {
				used = append(used, ident.Name)
			}
		}
		if len(used) > 0 {
			refused = append(refused, filepath.Join(dir, name)+": uses "+strings.Join(used, ", ")+
				", declared in the test files (a solution must build without its tests)")
		}
	}
	return refused
}

// topLevelNames are the file's package-level functions, variables, constants and types.
func topLevelNames(file *ast.File) []string {
	var names []string
	for _, decl := range file.Decls {
		switch decl := decl.(type) {
		case *ast.FuncDecl:
			if decl.Recv == nil {
				names = append(names, decl.Name.Name)
			}
		case *ast.GenDecl:
			for _, spec := range decl.Specs {
				switch spec := spec.(type) {
				case *ast.ValueSpec:
					for _, ident := range spec.Names {
						names = append(names, ident.Name)
					}
				case *ast.TypeSpec:
					names = append(names, spec.Name.Name)
				}
			}
		}
	}
	return names
}
