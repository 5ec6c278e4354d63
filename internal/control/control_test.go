package control_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"goqmail/internal/control"
)

func TestLineMe(t *testing.T) {
	for _, c := range []struct {
		label   string
		files   map[string]string
		literal string
		want    string
	}{
		{"file wins", map[string]string{"bouncehost": "b.example\n", "me": "me.example\n"}, "bouncehost", "b.example"},
		{"me", map[string]string{"me": "me.example\t\n"}, "bouncehost", "me.example"},
		{"empty me is a value", map[string]string{"me": ""}, "bouncehost", ""},
		{"literal", nil, "bouncehost", "bouncehost"},
		{"no literal", nil, "", ""},
		{"empty file is a value", map[string]string{"bouncehost": "", "me": "me.example"}, "bouncehost", ""},
	} {
		t.Run(c.label, func(t *testing.T) {
			got, err := home(t, c.files).LineMe("bouncehost", c.literal)
			if err != nil || got != c.want {
				t.Errorf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func TestLineDefault(t *testing.T) {
	d := home(t, map[string]string{"bouncefrom": "bounces \r\n"})
	if got, err := d.LineDefault("bouncefrom", "MAILER-DAEMON"); err != nil || got != "bounces" {
		t.Errorf("got %q, %v", got, err)
	}
	if got, err := d.LineDefault("doublebounceto", "postmaster"); err != nil || got != "postmaster" {
		t.Errorf("got %q, %v", got, err)
	}
}

func TestInt(t *testing.T) {
	for _, c := range []struct {
		content string // "-" for a missing file
		want    int
		bad     bool
	}{
		{"-", 20, false},
		{"", 20, false},
		{"35\n", 35, false},
		{"0", 0, false},
		{"-3", -3, false},
		{"007", 7, false},
		{"abc", 0, true},
		{"10M", 0, true},
		{" 5", 0, true},
		{"+5", 0, true},
		{"99999999999999999999", 0, true},
	} {
		t.Run(c.content, func(t *testing.T) {
			files := map[string]string{}
			if c.content != "-" {
				files["concurrencyremote"] = c.content
			}
			got, err := home(t, files).Int("concurrencyremote", 20)
			var ce *control.Error
			if c.bad {
				if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), "control/concurrencyremote line 1: ") {
					t.Errorf("got %d, %v; want an error naming control/concurrencyremote", got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Errorf("got %d, %v; want %d", got, err, c.want)
			}
		})
	}
}

func TestLocals(t *testing.T) {
	for _, c := range []struct {
		label string
		files map[string]string
		want  []string
		bad   bool
	}{
		{"file", map[string]string{"locals": "a.example\n#x\nb.example\n", "me": "me.example"}, []string{"a.example", "b.example"}, false},
		{"empty file", map[string]string{"locals": "", "me": "me.example"}, nil, false},
		{"me", map[string]string{"me": "me.example\n"}, []string{"me.example"}, false},
		{"neither", nil, nil, true},
	} {
		t.Run(c.label, func(t *testing.T) {
			got, err := home(t, c.files).Locals()
			if c.bad {
				var ce *control.Error
				if !errors.As(err, &ce) || ce.File != "control/locals" {
					t.Errorf("got %q, %v; want an error about control/locals", got, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func TestSetAndMap(t *testing.T) {
	d := home(t, map[string]string{
		"rcpthosts":      "Example.COM\n.Sub.Example\n\xffbyte\n",
		"virtualdomains": "Virt.Example:joe\nvirt.example:jane-virt\nnocolon\nuser@Other.Example:x:y\n",
	})
	set, ok, err := d.ReadSet("rcpthosts")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	for key, want := range map[string]bool{
		"example.com": true, "EXAMPLE.com": true, ".sub.example": true, "sub.example": false,
		"\xffBYTE": true, "\xfebyte": false, // invalid UTF-8 must not fold together
		"\u212Aexample.com": false, // Kelvin sign is not k
	} {
		if set.Has(key) != want {
			t.Errorf("Has(%q) = %v, want %v", key, !want, want)
		}
	}
	m, ok, err := d.ReadMap("virtualdomains")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	for key, want := range map[string]string{"virt.example": "jane-virt", "USER@other.example": "x:y", "nocolon": "\x00"} {
		got, found := m.Get(key)
		if want == "\x00" {
			if found {
				t.Errorf("Get(%q) found %q, want nothing", key, got)
			}
			continue
		}
		if !found || got != want {
			t.Errorf("Get(%q) = %q %v, want %q", key, got, found, want)
		}
	}
	if _, ok, err := d.ReadMap("smtproutes"); ok || err != nil {
		t.Errorf("missing map: ok %v err %v", ok, err)
	}
}

func TestErrorText(t *testing.T) {
	for _, c := range []struct {
		e    *control.Error
		want string
	}{
		{&control.Error{File: "control/me", Msg: "unable to read", Err: errors.New("permission denied")}, "control/me: unable to read: permission denied"},
		{&control.Error{File: "control/databytes", Line: 1, Msg: "not a decimal number"}, "control/databytes line 1: not a decimal number"},
	} {
		if got := c.e.Error(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}
