package tollgate_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestEveryPackageHasADocComment walks the module: every package needs a
// doc comment saying what it is for.
func TestEveryPackageHasADocComment(t *testing.T) {
	t.Parallel()
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "testdata") {
			return filepath.SkipDir
		}
		files, err := filepath.Glob(filepath.Join(path, "*.go"))
		if err != nil {
			return err
		}
		documented := map[string]bool{} // package name -> has a doc comment
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ParseComments|parser.PackageClauseOnly)
			if err != nil {
				return err
			}
			pkg := f.Name.Name
			documented[pkg] = documented[pkg] || (f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "")
		}
		for pkg, ok := range documented {
			if !ok {
				t.Errorf("package %s in %s has no doc comment", pkg, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// sources parses every Go file of the module that is not a test, with its
// comments, and calls fn with its directory (slash-separated, "." for the
// root) and its syntax.
func sources(t *testing.T, fn func(dir string, f *ast.File)) {
	t.Helper()
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		fn(filepath.ToSlash(filepath.Dir(path)), f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestEveryInterfaceMethodIsDocumented: each method of an exported
// interface says what it returns, in what order, and how it fails.
func TestEveryInterfaceMethodIsDocumented(t *testing.T) {
	t.Parallel()
	sources(t, func(dir string, f *ast.File) {
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok || !ts.Name.IsExported() {
				return true
			}
			it, ok := ts.Type.(*ast.InterfaceType)
			if !ok {
				return true
			}
			for _, m := range it.Methods.List {
				if len(m.Names) == 0 {
					continue // an embedded interface, documented where it is declared
				}
				if m.Doc == nil || strings.TrimSpace(m.Doc.Text()) == "" {
					t.Errorf("%s: method %s.%s has no doc comment", dir, ts.Name.Name, m.Names[0].Name)
				}
			}
			return true
		})
	})
}

// TestOnlyTheLedgerReachesTheCommitter: package store declares the
// committer's interface, whose transactions write grants, holds and the
// journal. Only the ledger and the stores may import it; every other
// package gets records (store/record) from the ledger.
func TestOnlyTheLedgerReachesTheCommitter(t *testing.T) {
	t.Parallel()
	seen := false
	sources(t, func(dir string, f *ast.File) {
		if dir == "ledger" || dir == "store" || strings.HasPrefix(dir, "store/") {
			seen = seen || dir == "ledger"
			return
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == "tollgate/store" {
				t.Errorf("%s imports tollgate/store: only ledger and store/... may; use the ledger's records (store/record)", dir)
			}
		}
	})
	if !seen {
		t.Fatal("the walk never reached ledger/: run from the module root")
	}
}
