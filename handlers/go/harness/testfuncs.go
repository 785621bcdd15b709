// Command testfuncs prints, as JSON, the package clause and the test functions of the *_test.go
// files in the current directory, with the rules `go test` uses to find them (a Test prefix not
// followed by a lower-case letter, one *testing.T parameter, no receiver, results or type
// parameters). The harness generates its measuring test from this list; a file that does not
// parse is skipped, and `go test` reports it.
package main

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"unicode"
	"unicode/utf8"
)

type packageTests struct {
	Package string   `json:"package"`
	Tests   []string `json:"tests"`
}

func main() {
	files, _ := filepath.Glob("*_test.go")
	found := map[string]*packageTests{}
	var order []string
	fset := token.NewFileSet()
	for _, name := range files {
		file, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			continue
		}
		pkg := file.Name.Name
		if found[pkg] == nil {
			found[pkg] = &packageTests{Package: pkg, Tests: []string{}}
			order = append(order, pkg)
		}
		for _, decl := range file.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && isTest(fn) {
				found[pkg].Tests = append(found[pkg].Tests, fn.Name.Name)
			}
		}
	}
	result := []*packageTests{}
	for _, pkg := range order {
		result = append(result, found[pkg])
	}
	json.NewEncoder(os.Stdout).Encode(result)
}

func isTest(fn *ast.FuncDecl) bool {
	name := fn.Name.Name
	if fn.Recv != nil || fn.Type.TypeParams != nil || fn.Type.Results != nil || len(name) < 4 || name[:4] != "Test" {
		return false
	}
	if len(name) > 4 {
		if next, _ := utf8.DecodeRuneInString(name[4:]); unicode.IsLower(next) {
			return false
		}
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
		return typ.Sel.Name == "T"
	case *ast.Ident:
		return typ.Name == "T"
	}
	return false
}
