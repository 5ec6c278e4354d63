package control_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"goqmail/internal/control"
	"goqmail/internal/testutil"
)

// spec06 is qmail-control(5) as spec §0.6 gives it, written out again
// here so that the table in files.go is checked against the spec rather
// than against itself.
var spec06 = []struct {
	name     string
	kind     control.Kind
	def      string
	me       bool
	required bool
}{
	{"badmailfrom", control.KindList, "", false, false},
	{"bouncefrom", control.KindLine, "MAILER-DAEMON", false, false},
	{"bouncehost", control.KindLine, "bouncehost", true, false},
	{"concurrencylocal", control.KindInt, "10", false, false},
	{"concurrencyremote", control.KindInt, "20", false, false},
	{"databytes", control.KindInt, "0", false, false},
	{"defaultdomain", control.KindLine, "defaultdomain", true, false},
	{"defaulthost", control.KindLine, "defaulthost", true, false},
	{"doublebouncehost", control.KindLine, "doublebouncehost", true, false},
	{"doublebounceto", control.KindLine, "postmaster", false, false},
	{"envnoathost", control.KindLine, "envnoathost", true, false},
	{"helohost", control.KindLine, "", true, true},
	{"idhost", control.KindLine, "idhost", true, false},
	{"localiphost", control.KindLine, "", true, true},
	{"locals", control.KindList, "", true, true},
	{"me", control.KindLine, "", false, false},
	{"morercpthosts", control.KindList, "", false, false},
	{"morercpthosts.cdb", control.KindCDB, "", false, false},
	{"percenthack", control.KindList, "", false, false},
	{"plusdomain", control.KindLine, "plusdomain", true, false},
	{"qmqpservers", control.KindList, "", false, false},
	{"queuelifetime", control.KindInt, "604800", false, false},
	{"rcpthosts", control.KindList, "", false, false},
	{"smtpgreeting", control.KindLine, "", true, true},
	{"smtproutes", control.KindMap, "", false, false},
	{"timeoutconnect", control.KindInt, "60", false, false},
	{"timeoutremote", control.KindInt, "1200", false, false},
	{"timeoutsmtpd", control.KindInt, "1200", false, false},
	{"virtualdomains", control.KindMap, "", false, false},
}

// TestFilesTableMatchesSpec checks that every file of spec §0.6 is in
// control.Files with qmail's kind and default, and that every row (goqmail's
// own files too: timeoutlocal, maxrcpt, ...) is complete.
func TestFilesTableMatchesSpec(t *testing.T) {
	if len(control.Files) < len(spec06) {
		t.Errorf("control.Files has %d rows, spec §0.6 %d", len(control.Files), len(spec06))
	}
	var names []string
	for _, f := range control.Files {
		names = append(names, f.Name)
		if f.Desc == "" || f.ReadBy == "" {
			t.Errorf("%s: no description or reader", f.Name)
		}
		if f.Kind != control.KindCDB && f.Kind != control.KindSecret && strings.Count(f.Show, "%s") != 1 {
			t.Errorf("%s: Show %q must hold exactly one %%s", f.Name, f.Show)
		}
		needNone := f.Kind == control.KindList || f.Kind == control.KindMap || f.Kind == control.KindCDB || f.Kind == control.KindSecret ||
			(f.Kind == control.KindLine && f.Default == "")
		if needNone && f.None == "" {
			t.Errorf("%s: no sentence for a missing value", f.Name)
		}
		if f.Kind == control.KindInt {
			if _, err := strconv.Atoi(f.Default); err != nil {
				t.Errorf("%s: integer default %q: %v", f.Name, f.Default, err)
			}
		}
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("control.Files is not in alphabetical order: %v", names)
	}
	for _, want := range spec06 {
		f, ok := control.LookupFile(want.name)
		if !ok {
			t.Errorf("%s: missing from control.Files", want.name)
			continue
		}
		if f.Kind != want.kind || f.Default != want.def || f.Me != want.me || f.Required != want.required {
			t.Errorf("%s: kind %v default %q me %v required %v; spec: %v %q %v %v",
				want.name, f.Kind, f.Default, f.Me, f.Required, want.kind, want.def, want.me, want.required)
		}
	}
	if _, ok := control.LookupFile("nosuchfile"); ok {
		t.Error("LookupFile found a file that does not exist")
	}
}

// home makes a qmail home with the given control files.
func home(t *testing.T, files map[string]string) *control.Dir {
	t.Helper()
	h := t.TempDir()
	if err := os.MkdirAll(filepath.Join(h, "control"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		testutil.MustWrite(t, filepath.Join(h, "control", name), content, 0o644)
	}
	return control.New(h)
}

// TestValueMissing checks every row's value when its file is missing,
// with control/me present, empty and missing.
func TestValueMissing(t *testing.T) {
	for _, row := range spec06 {
		for _, me := range []struct {
			label   string
			files   map[string]string
			value   string
			present bool
		}{
			{"me present", map[string]string{"me": "me.example \n"}, "me.example", true},
			{"me empty", map[string]string{"me": ""}, "", true},
			{"me missing", nil, "", false},
		} {
			t.Run(row.name+"/"+me.label, func(t *testing.T) {
				if row.name == "me" {
					return // covered by TestValueReadingRules
				}
				d := home(t, me.files)
				v, err := d.Value(row.name)
				if err != nil {
					t.Fatal(err)
				}
				if v.Exists {
					t.Error("Exists is true for a missing file")
				}
				wantSrc, wantText, wantLines := control.FromDefault, "", []string(nil)
				switch row.kind {
				case control.KindLine:
					switch {
					case row.me && me.present:
						wantSrc, wantText = control.FromMe, me.value
					case row.def != "":
						wantText = row.def
					default:
						wantSrc = control.NoValue
					}
				case control.KindInt:
					wantText = row.def
				case control.KindList, control.KindMap:
					switch {
					case row.me && me.present:
						wantSrc, wantLines = control.FromMe, []string{me.value}
					case row.required:
						wantSrc = control.NoValue
					}
				case control.KindCDB:
					wantSrc = control.NoValue
				}
				if v.Source != wantSrc || v.Text != wantText || !reflect.DeepEqual(v.Lines, wantLines) {
					t.Errorf("got source %v text %q lines %q; want %v %q %q", v.Source, v.Text, v.Lines, wantSrc, wantText, wantLines)
				}
				if row.kind == control.KindInt && strconv.Itoa(v.Int) != row.def {
					t.Errorf("Int = %d, want %s", v.Int, row.def)
				}
			})
		}
	}
}

type ruleCase struct {
	label   string
	content string
	src     control.Source
	text    string
	lines   []string
}

var lineRules = []ruleCase{
	{"plain", "host.example\n", control.FromFile, "host.example", nil},
	{"no final newline", "host.example", control.FromFile, "host.example", nil},
	{"trailing white space and CR", "host.example \t \r\n", control.FromFile, "host.example", nil},
	{"leading space kept", "  host.example\n", control.FromFile, "  host.example", nil},
	{"first line only", "first\nsecond\n", control.FromFile, "first", nil},
	{"no comments in line files", "# not a comment\nx\n", control.FromFile, "# not a comment", nil},
	{"empty file is a value", "", control.FromFile, "", nil},
	{"blank first line is a value", "\nsecond\n", control.FromFile, "", nil},
}

var intRules = []ruleCase{
	{"plain", "5\n", control.FromFile, "5", nil},
	{"no final newline", "77", control.FromFile, "77", nil},
	{"trailing white space and CR", "42 \t\r\n", control.FromFile, "42", nil},
	{"first line only", "7\nabc\n", control.FromFile, "7", nil},
	{"zero", "0\n", control.FromFile, "0", nil},
	{"empty file means the default", "", control.FromDefault, "", nil},
	{"blank line means the default", " \n", control.FromDefault, "", nil},
}

var listRules = []ruleCase{
	{"plain", "a.example\nb.example\n", control.FromFile, "", []string{"a.example", "b.example"}},
	{"comments and blank lines skipped", "#c\n\na.example\n \t\n# b.example\n", control.FromFile, "", []string{"a.example"}},
	{"trailing white space and CR", "a.example \t\r\nb.example\r\n", control.FromFile, "", []string{"a.example", "b.example"}},
	{"leading space kept, not a comment", "  a.example\n #x\n", control.FromFile, "", []string{"  a.example", " #x"}},
	{"no final newline", "a.example", control.FromFile, "", []string{"a.example"}},
	{"empty file is an empty list", "", control.FromFile, "", nil},
	{"only comments is an empty list", "# nothing\n", control.FromFile, "", nil},
	{"map lines kept whole", "a.example:relay:25\nnocolon\n", control.FromFile, "", []string{"a.example:relay:25", "nocolon"}},
}

// TestValueReadingRules checks every row with its file present: the
// file wins over control/me and over the default, by its kind's rules.
func TestValueReadingRules(t *testing.T) {
	for _, row := range spec06 {
		var cases []ruleCase
		switch row.kind {
		case control.KindLine:
			cases = lineRules
		case control.KindInt:
			cases = intRules
		case control.KindList, control.KindMap:
			cases = listRules
		case control.KindCDB:
			cases = []ruleCase{{"any bytes", "xyz", control.FromFile, "", nil}, {"empty", "", control.FromFile, "", nil}}
		}
		for _, c := range cases {
			t.Run(row.name+"/"+c.label, func(t *testing.T) {
				files := map[string]string{row.name: c.content}
				if row.name != "me" {
					files["me"] = "me.example\n"
				}
				d := home(t, files)
				v, err := d.Value(row.name)
				if err != nil {
					t.Fatal(err)
				}
				text := c.text
				if row.kind == control.KindInt && c.src == control.FromDefault {
					text = row.def
				}
				if !v.Exists || v.Source != c.src || v.Text != text || !reflect.DeepEqual(v.Lines, c.lines) {
					t.Errorf("got exists %v source %v text %q lines %q; want true %v %q %q",
						v.Exists, v.Source, v.Text, v.Lines, c.src, text, c.lines)
				}
				if row.kind == control.KindInt && strconv.Itoa(v.Int) != text {
					t.Errorf("Int = %d, want %s", v.Int, text)
				}
			})
		}
	}
}

func TestValueMalformedInt(t *testing.T) {
	bad := []string{"abc", "10M", " 5", "+5", "99999999999999999999", "0x10", "5 5", "1e3", "-", "５"}
	for _, row := range spec06 {
		if row.kind != control.KindInt {
			continue
		}
		for _, content := range bad {
			t.Run(row.name+"/"+content, func(t *testing.T) {
				d := home(t, map[string]string{row.name: content + "\n"})
				v, err := d.Value(row.name)
				var ce *control.Error
				if !errors.As(err, &ce) {
					t.Fatalf("Value: got %v (value %q), want a *control.Error", err, v.Text)
				}
				if ce.File != "control/"+row.name || !strings.Contains(err.Error(), "control/"+row.name) {
					t.Errorf("error %q does not name control/%s", err, row.name)
				}
				if !v.Exists {
					t.Error("Exists is false for a file that exists")
				}
				if _, err := d.Int(row.name, 99); !errors.As(err, &ce) {
					t.Errorf("Int: got %v, want a *control.Error", err)
				}
			})
		}
	}
}

// TestValueUnreadable checks that a control file that exists but cannot
// be read is an error for every row, never the default; and so is an
// unreadable control/me for the files that fall back to it.
func TestValueUnreadable(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	for _, row := range spec06 {
		t.Run(row.name, func(t *testing.T) {
			d := home(t, map[string]string{"me": "me.example\n"})
			testutil.MustWrite(t, d.Path(row.name), "secret.example\n", 0)
			v, err := d.Value(row.name)
			var ce *control.Error
			if !errors.As(err, &ce) {
				t.Fatalf("got %v (source %v text %q lines %q), want a *control.Error", err, v.Source, v.Text, v.Lines)
			}
			if ce.File != "control/"+row.name || !errors.Is(err, os.ErrPermission) {
				t.Errorf("error %q: want control/%s and permission denied", err, row.name)
			}
		})
		if row.me {
			t.Run(row.name+"/me unreadable", func(t *testing.T) {
				d := home(t, nil)
				testutil.MustWrite(t, d.Path("me"), "me.example\n", 0)
				_, err := d.Value(row.name)
				var ce *control.Error
				if !errors.As(err, &ce) || ce.File != "control/me" {
					t.Fatalf("got %v, want a *control.Error about control/me", err)
				}
			})
		}
	}
	t.Run("control folder unsearchable", func(t *testing.T) {
		d := home(t, map[string]string{"me": "me.example\n"})
		if err := os.Chmod(filepath.Join(d.Home, "control"), 0); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(filepath.Join(d.Home, "control"), 0o755)
		for _, row := range spec06 {
			if _, err := d.Value(row.name); !errors.Is(err, os.ErrPermission) {
				t.Errorf("%s: got %v, want permission denied", row.name, err)
			}
		}
	})
}

func TestValueUnknownFile(t *testing.T) {
	d := home(t, map[string]string{"custom": "x \n"})
	v, err := d.Value("custom")
	if err != nil || v.Text != "x" || v.Source != control.FromFile || v.Info.Kind != control.KindLine {
		t.Errorf("got %+v, %v", v, err)
	}
	v, err = d.Value("absent")
	if err != nil || v.Source != control.NoValue || v.Exists {
		t.Errorf("got %+v, %v", v, err)
	}
}
