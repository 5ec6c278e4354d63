package userdb

import (
	"strings"
	"testing"
)

func TestParseGetpw(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Entry
		err  string // substring of the error; "" = no error
	}{
		{"plain", "joe\x00507\x00100\x00/home/joe\x00\x00\x00",
			Entry{User: "joe", UID: 507, GID: 100, Home: "/home/joe"}, ""},
		{"ext", "joe\x00507\x00100\x00/home/joe\x00-\x00Foo-Bar\x00",
			Entry{User: "joe", UID: 507, GID: 100, Home: "/home/joe", Dash: "-", Ext: "Foo-Bar"}, ""},
		{"leading zero", "a\x00007\x000\x00/h\x00\x00\x00", Entry{User: "a", UID: 7, Home: "/h"}, ""},
		{"max id", "a\x004294967294\x001\x00/h\x00\x00\x00", Entry{User: "a", UID: 4294967294, GID: 1, Home: "/h"}, ""},
		{"empty", "", Entry{}, "does not end with NUL"},
		{"no final NUL", "joe\x00507\x00100\x00/home/joe\x00\x00x", Entry{}, "does not end with NUL"},
		{"five fields", "joe\x00507\x00100\x00/home/joe\x00\x00", Entry{}, "5 fields"},
		{"five fields terminated", "joe\x00507\x00100\x00/home/joe\x00-\x00", Entry{}, "5 fields"},
		{"seven fields", "joe\x00507\x00100\x00/home/joe\x00\x00\x00x\x00", Entry{}, "7 fields"},
		{"bad uid", "joe\x00x\x00100\x00/h\x00\x00\x00", Entry{}, `bad uid "x"`},
		{"uid with junk", "joe\x005x\x00100\x00/h\x00\x00\x00", Entry{}, "bad uid"},
		{"negative uid", "joe\x00-1\x00100\x00/h\x00\x00\x00", Entry{}, "bad uid"},
		{"plus uid", "joe\x00+1\x00100\x00/h\x00\x00\x00", Entry{}, "bad uid"},
		{"empty uid", "joe\x00\x00100\x00/h\x00\x00\x00", Entry{}, "bad uid"},
		{"uid -1 as unsigned", "joe\x004294967295\x00100\x00/h\x00\x00\x00", Entry{}, "bad uid"},
		{"uid too big", "joe\x004294967296\x00100\x00/h\x00\x00\x00", Entry{}, "bad uid"},
		{"bad gid", "joe\x001\x00 1\x00/h\x00\x00\x00", Entry{}, `bad gid " 1"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseGetpw([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestEntryBytesRoundTrip(t *testing.T) {
	e := Entry{User: "joe", UID: 507, GID: 100, Home: "/home/joe", Dash: "-", Ext: "a.B"}
	want := "joe\x00507\x00100\x00/home/joe\x00-\x00a.B\x00"
	if got := string(e.Bytes()); got != want {
		t.Fatalf("Bytes = %q, want %q", got, want)
	}
	back, err := ParseGetpw(e.Bytes())
	if err != nil || back != e {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}
