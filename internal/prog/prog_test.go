package prog

import (
	"bytes"
	"os"
	"reflect"
	"testing"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		key  string
		want string
		ok   bool
	}{
		{"absent", []string{"A=1"}, "B", "", false},
		{"empty env", nil, "A", "", false},
		{"present", []string{"A=1", "B=2"}, "B", "2", true},
		{"set but empty", []string{"A="}, "A", "", true},
		{"last occurrence wins", []string{"A=1", "B=2", "A=3"}, "A", "3", true},
		{"prefix of another key", []string{"PATHX=no", "PATH=yes", "PATHY=no"}, "PATH", "yes", true},
		{"only a longer key", []string{"PATHX=no"}, "PATH", "", false},
		{"only a shorter key", []string{"PAT=no"}, "PATH", "", false},
		{"entry without '='", []string{"A"}, "A", "", false},
		{"value holds '='", []string{"A=b=c"}, "A", "b=c", true},
		{"case matters", []string{"path=x"}, "PATH", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Lookup(tt.env, tt.key)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Lookup(%q, %q) = %q, %v; want %q, %v", tt.env, tt.key, got, ok, tt.want, tt.ok)
			}
			c := &Context{Env: tt.env}
			got, ok = c.Getenv(tt.key)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Getenv = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
			if got := c.Env0(tt.key); got != tt.want {
				t.Errorf("Env0 = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSetUnsetEnv(t *testing.T) {
	tests := []struct {
		name      string
		env       []string
		key, val  string
		set, uset []string
	}{
		{"new key", []string{"A=1"}, "B", "2", []string{"A=1", "B=2"}, []string{"A=1"}},
		{"replaces every occurrence", []string{"A=1", "B=2", "A=3"}, "A", "9", []string{"B=2", "A=9"}, []string{"B=2"}},
		{"keeps keys it prefixes", []string{"AB=1", "A=2", "ABC=3"}, "A", "x", []string{"AB=1", "ABC=3", "A=x"}, []string{"AB=1", "ABC=3"}},
		{"keeps keys that prefix it", []string{"A=1", "AB=2"}, "AB", "x", []string{"A=1", "AB=x"}, []string{"A=1"}},
		{"bare name removed", []string{"A", "B=1"}, "A", "", []string{"B=1", "A="}, []string{"B=1"}},
		{"empty env", nil, "A", "1", []string{"A=1"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := append([]string(nil), tt.env...)
			if got := SetEnv(tt.env, tt.key, tt.val); !reflect.DeepEqual(got, tt.set) {
				t.Errorf("SetEnv = %q, want %q", got, tt.set)
			}
			if got := UnsetEnv(tt.env, tt.key); !reflect.DeepEqual(got, tt.uset) {
				t.Errorf("UnsetEnv = %q, want %q", got, tt.uset)
			}
			if !reflect.DeepEqual(tt.env, orig) && !(tt.env == nil && len(orig) == 0) {
				t.Errorf("input changed: %q, was %q", tt.env, orig)
			}
		})
	}
}

// TestSetEnvDoesNotAlias checks that SetEnv returns a copy: appending to
// the result must not write into the caller's backing array.
func TestSetEnvDoesNotAlias(t *testing.T) {
	base := make([]string, 1, 10)
	base[0] = "A=1"
	one := SetEnv(base, "B", "1")
	two := SetEnv(base, "B", "2")
	if one[1] != "B=1" || two[1] != "B=2" {
		t.Errorf("results share storage: %q %q", one, two)
	}
}

func TestName(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, ""},
		{[]string{""}, ""},
		{[]string{"qmail-smtpd"}, "qmail-smtpd"},
		{[]string{"/var/qmail/bin/qmail-smtpd", "x"}, "qmail-smtpd"},
		{[]string{"bin/"}, ""},
		{[]string{"./tcprules"}, "tcprules"},
	}
	for _, tt := range tests {
		c := &Context{Args: tt.args}
		if got := c.Name(); got != tt.want {
			t.Errorf("Name(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}

func TestFile(t *testing.T) {
	c := &Context{Files: []*os.File{os.Stdin, nil, os.Stderr}}
	tests := []struct {
		n    int
		want *os.File
	}{
		{-1, nil}, {0, os.Stdin}, {1, nil}, {2, os.Stderr}, {3, nil}, {100, nil},
	}
	for _, tt := range tests {
		if got := c.File(tt.n); got != tt.want {
			t.Errorf("File(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
	if got := (&Context{}).File(0); got != nil {
		t.Errorf("File(0) with no Files = %v, want nil", got)
	}
}

func TestMessages(t *testing.T) {
	var buf bytes.Buffer
	c := &Context{Args: []string{"/x/qmail-foo"}, Stderr: &buf}
	if code := c.Fatal(111, "unable to %s: %d", "read", 5); code != 111 {
		t.Errorf("Fatal returned %d", code)
	}
	c.Warn("odd %q", "x")
	if code := c.Usage("qmail-foo dir"); code != 100 {
		t.Errorf("Usage returned %d", code)
	}
	want := "qmail-foo: fatal: unable to read: 5\n" +
		"qmail-foo: warning: odd \"x\"\n" +
		"qmail-foo: usage: qmail-foo dir\n"
	if buf.String() != want {
		t.Errorf("stderr = %q, want %q", buf.String(), want)
	}
}
