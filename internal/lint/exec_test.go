package lint

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// starters are the calls that start or become another program.
var starters = map[string]bool{
	"exec.Command": true, "exec.CommandContext": true,
	"syscall.Exec": true, "unix.Exec": true,
	"syscall.ForkExec": true, "syscall.StartProcess": true, "os.StartProcess": true,
}

// allowed are the places (file: enclosing function) that start programs,
// each one qmail defines or the design gives (hardening.md G15: no code
// path hands envelope, DNS or header data to a shell or to a program's
// arguments beyond those qmail defines). A new place fails the test until
// it is added here with its reason.
var allowed = map[string]string{
	"internal/spawn/lspawn.go: deliverExec":       "qmail-lspawn runs qmail-local with qmail's arguments (the exec path)",
	"internal/spawn/lspawn.go: getpwExec":         "qmail-lspawn runs qmail-getpw with the local part, as qmail does",
	"internal/spawn/rspawn.go: deliver":           "qmail-rspawn runs qmail-remote with host, sender and recipients, as qmail does (the exec path)",
	"internal/start/start.go: startChild":         "qmail-start starts the spawners, qmail-clean and the logger it is given",
	"internal/start/start.go: ReexecIfPollerLow":  "qmail-start execs itself once, same arguments, to free descriptors 3-9",
	"internal/start/start.go: becomeSend":         "qmail-start becomes qmail-send",
	"internal/install/usermode.go: buildUsersCdb": "install runs qmail-newu",
	"internal/install/accounts.go: runTool":       "install runs groupadd/useradd with fixed arguments",
	"internal/qq/workers.go: current":             "the long-lived qmail-queue worker, no argument but --worker",
	"internal/qq/qq.go: OpenAs":                   "qmail-queue (or $QMAILQUEUE), no arguments",
	"internal/smtpd/auth.go: checkPassword":       "checkpassword, with the arguments the administrator gave qmail-smtpd; the credentials go on descriptor 3",
	"internal/localdelivery/deliver.go: program":  "a .qmail |program line, by /bin/sh -c as qmail-local does; the message on stdin, the envelope in the environment",
	"internal/inject/sendmail.go: runProgram":     "sendmail and its kin run qmail-inject or qmail-smtpd with qmail's options",
	"internal/prog/shared.go: ExecSharedQueue":    "the setuid qmail-queue copy execs the shared binary by descriptor, same arguments",
}

// TestProgramStarts: every place in goqmail's code (tests aside) that
// starts another program is one of the allowed ones.
func TestProgramStarts(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	found, shell := map[string]bool{}, map[string]bool{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") || d.Name() == "run" || d.Name() == "build") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		if strings.HasPrefix(rel, "internal/testutil/") || strings.HasPrefix(rel, "e2e/") {
			return nil // helpers of the tests
		}
		places, shells := startsIn(t, path)
		for _, place := range places {
			found[rel+": "+place] = true
		}
		for _, place := range shells {
			shell[rel+": "+place] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var places []string
	for p := range found {
		places = append(places, p)
		if _, ok := allowed[p]; !ok {
			t.Errorf("%s starts a program and is not among the allowed places (hardening.md G15): add it with its reason, or don't", p)
		}
	}
	for p := range allowed {
		if !found[p] {
			t.Errorf("allowed place %s starts no program any more: take it out of the list", p)
		}
	}
	// A shell's -c only where qmail-local runs a |program line.
	for p := range shell {
		if p != "internal/localdelivery/deliver.go: program" {
			t.Errorf("%s hands a command line to a shell (-c): only a .qmail |program line may be", p)
		}
	}
	sort.Strings(places)
	t.Logf("places that start programs:\n%s", strings.Join(places, "\n"))
}

// startsIn returns the functions of the file at path that call a starter
// (a closure counts as its enclosing function), and those that pass it a
// literal "-c", a shell's command line.
func startsIn(t *testing.T, path string) (places, shells []string) {
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), path, src, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); !ok || !starters[pkg.Name+"."+sel.Sel.Name] {
				return true
			}
			places = append(places, fn.Name.Name)
			for _, arg := range call.Args {
				if lit, ok := arg.(*ast.BasicLit); ok && lit.Value == `"-c"` {
					shells = append(shells, fn.Name.Name)
				}
			}
			return true
		})
	}
	return places, shells
}
