package smtpout

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"goqmail/internal/control"
)

func TestFindRoute(t *testing.T) {
	routes := control.ParseMap([]string{
		"example.test:relay.example:2525",
		".sub.example.test:sub-relay.example",
		"exempt.sub.example.test:",
		"lit.test:[192.0.2.7]:26",
		"v6.test:[2001:db8::1]:27",
		":smarthost.example",
		"LIST.example.test:10.0.0.1:10025",
	})
	tests := []struct {
		host  string
		want  route
		found bool
	}{
		{"example.test", route{"relay.example", 2525}, true},
		{"EXAMPLE.TEST", route{"relay.example", 2525}, true},
		{"a.sub.example.test", route{"sub-relay.example", 25}, true},
		{"b.a.sub.example.test", route{"sub-relay.example", 25}, true},
		{"exempt.sub.example.test", route{"", 25}, true},
		{"sub.example.test", route{"smarthost.example", 25}, true},
		{"lit.test", route{"[192.0.2.7]", 26}, true},
		{"v6.test", route{"[2001:db8::1]", 27}, true},
		{"list.example.test", route{"10.0.0.1", 10025}, true},
		{"other.test", route{"smarthost.example", 25}, true},
	}
	for _, tc := range tests {
		got, found, err := findRoute(routes, tc.host)
		if err != nil || found != tc.found || got != tc.want {
			t.Errorf("%s: got %+v %v %v, want %+v", tc.host, got, found, err, tc.want)
		}
	}
	if _, found, _ := findRoute(control.ParseMap([]string{"x.test:r"}), "y.test"); found {
		t.Error("route found without a default")
	}
	for _, bad := range []string{"x.test:r:0", "x.test:r:65536", "x.test:r:2x", "x.test:[1.2.3.4", "x.test:[1.2.3.4]x"} {
		if _, _, err := findRoute(control.ParseMap([]string{bad}), "x.test"); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestLiteral(t *testing.T) {
	tests := map[string]string{
		"[192.0.2.1]": "192.0.2.1", "192.0.2.1": "192.0.2.1", "[IPv6:2001:db8::1]": "2001:db8::1",
		"[2001:db8::2]": "2001:db8::2", "example.test": "", "[example.test]": "", "2001:db8::1": "", "[1.2.3]": "",
	}
	for in, want := range tests {
		a, ok := literal(in)
		if (want == "") == ok || (ok && a.String() != want) {
			t.Errorf("%s: got %v %v, want %q", in, a, ok, want)
		}
	}
}

func reverse(m []MX) { slices.Reverse(m) }

func TestMXTargets(t *testing.T) {
	dns := &fakeDNS{
		MX: map[string][]MX{
			"multi.test":     {{20, "b.mx.test"}, {10, "a.mx.test"}, {20, "c.mx.test"}, {30, "192.0.2.30"}},
			"partsoft.test":  {{10, "soft.mx.test"}, {20, "a.mx.test"}},
			"allsoft.test":   {{10, "soft.mx.test"}, {20, "gone.mx.test"}},
			"allgone.test":   {{10, "gone.mx.test"}},
			"null.test":      {{0, ""}},
			"v6.test":        {{10, "v6.mx.test"}},
			"linklocal.test": {{10, "ll.mx.test"}, {20, "b.mx.test"}},
			"onlyll.test":    {{10, "ll.mx.test"}, {20, "[169.254.1.1]"}},
		},
		A: map[string][]string{
			"a.mx.test": {"192.0.2.1", "192.0.2.2"}, "b.mx.test": {"192.0.2.3"}, "c.mx.test": {"192.0.2.4"},
			"noMX.test": {"192.0.2.9"}, "v6.mx.test": {"192.0.2.6"},
			"ll.mx.test": {"169.254.0.7", "224.0.0.1", "255.255.255.255"}, "llnoMX.test": {"169.254.0.8"},
		},
		AAAA: map[string][]string{"v6.mx.test": {"2001:db8::6"}, "noMX.test": {"2001:db8::9"}, "ll.mx.test": {"fe80::7", "ff02::1"}},
		Hard: map[string]bool{"gone.mx.test": true, "nx.test": true},
		Soft: map[string]bool{"soft.mx.test": true, "servfail.test": true},
	}
	tests := []struct {
		host string
		want []string // "pref addr"
		err  error
	}{
		{"multi.test", []string{"10 192.0.2.1", "10 192.0.2.2", "20 192.0.2.4", "20 192.0.2.3", "30 192.0.2.30"}, nil},
		{"noMX.test", []string{"0 192.0.2.9", "0 2001:db8::9"}, nil},
		{"v6.test", []string{"10 192.0.2.6", "10 2001:db8::6"}, nil},
		{"partsoft.test", []string{"20 192.0.2.1", "20 192.0.2.2"}, nil},
		{"[192.0.2.77]", []string{"0 192.0.2.77"}, nil},
		{"allsoft.test", nil, errSoft},
		{"allgone.test", nil, errNoAddr},
		{"servfail.test", nil, errSoft},
		{"nx.test", nil, ErrNoSuchHost},
		{"null.test", nil, errNullMX},
		{"empty.test", nil, errNoAddr},
		// link-local, multicast and broadcast addresses are skipped
		{"linklocal.test", []string{"20 192.0.2.3"}, nil},
		{"onlyll.test", nil, errNoAddr},
		{"llnoMX.test", nil, errNoAddr},
	}
	for _, tc := range tests {
		ts, err := mxTargets(context.Background(), dns, tc.host, reverse)
		var got []string
		for _, x := range ts {
			got = append(got, fmt.Sprintf("%d %s", x.Pref, x.Addr))
		}
		if err != tc.err || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %q %v, want %q %v", tc.host, got, err, tc.want, tc.err)
		}
	}
}

// TestEqualPreferencesShuffled: the default order among equal
// preferences varies between runs, and both hosts come first sometimes.
func TestEqualPreferencesShuffled(t *testing.T) {
	dns := &fakeDNS{MX: map[string][]MX{"eq.test": {{10, "a"}, {10, "b"}}}, A: map[string][]string{"a": {"192.0.2.1"}, "b": {"192.0.2.2"}}}
	r := &Sender{}
	r.defaults()
	first := map[string]int{}
	for i := 0; i < 200; i++ {
		ts, err := mxTargets(context.Background(), dns, "eq.test", r.Shuffle)
		if err != nil || len(ts) != 2 {
			t.Fatal(ts, err)
		}
		first[ts[0].Addr.String()]++
	}
	if first["192.0.2.1"] < 40 || first["192.0.2.2"] < 40 {
		t.Errorf("first choices %v: not shared", first)
	}
}

func TestEligible(t *testing.T) {
	a := netip.MustParseAddr
	ts := []target{{Addr: a("192.0.2.1"), Pref: 10}, {Addr: a("192.0.2.2"), Pref: 20}, {Addr: a("192.0.2.3"), Pref: 30}}
	me := func(s ...string) map[netip.Addr]bool {
		m := map[netip.Addr]bool{}
		for _, x := range s {
			m[a(x)] = true
		}
		return m
	}
	count := func(x []target) int { return len(x) }
	if n := count(eligible(ts, me(), false)); n != 3 {
		t.Errorf("not me: %d", n)
	}
	if n := count(eligible(ts, me("192.0.2.2"), false)); n != 1 {
		t.Errorf("me at 20: %d", n)
	}
	if n := count(eligible(ts, me("192.0.2.1"), false)); n != 0 {
		t.Errorf("me best: %d", n)
	}
	if n := count(eligible(ts, me("192.0.2.1"), true)); n != 3 {
		t.Errorf("relay to me: %d", n)
	}
}

// TestMXDelivery runs the whole program against the fake resolver and a
// peer on 127.0.0.1: failover to the next MX, DNS failure reports, and
// qmail's refusal to deliver to itself.
func TestMXDelivery(t *testing.T) {
	p := startPeer(t, &fakePeer{})
	dns := &fakeDNS{
		MX: map[string][]MX{
			"failover.test": {{10, "down.mx"}, {20, "up.mx"}},
			"me.test":       {{10, "up.mx"}},
			"mebehind.test": {{10, "down.mx"}, {20, "up.mx"}},
			"null.test":     {{0, ""}},
		},
		A:    map[string][]string{"down.mx": {"127.0.0.2"}, "up.mx": {"127.0.0.1"}, "arecord.test": {"127.0.0.1"}},
		Hard: map[string]bool{"nx.test": true},
		Soft: map[string]bool{"servfail.test": true},
	}
	me := func() (map[netip.Addr]bool, error) {
		return map[netip.Addr]bool{netip.MustParseAddr("127.0.0.1"): true}, nil
	}
	accepted := "r|K127.0.0.1 accepted message.\nRemote host said: 250 ok queued\n|"
	tests := []struct {
		host     string
		me       func() (map[netip.Addr]bool, error)
		want     string
		moreipme string
	}{
		// control/moreipme: 127.0.0.1 is mine though no interface says so
		{"me.test", nil, textAmbigMX[:len(textAmbigMX)-1] + "\n|", "192.0.2.99\n127.0.0.1\n"},
		{"me.test", nil, "Zcontrol/moreipme: 127.0.0.300 is not an IP address. (#4.3.0)\n|", "127.0.0.300\n"},
		{"failover.test", nil, accepted, ""},
		{"arecord.test", nil, accepted, ""},
		{"me.test", me, textAmbigMX[:len(textAmbigMX)-1] + "\n|", ""},
		{"mebehind.test", me, textNoConn[:len(textNoConn)-1] + "\n|", ""},
		{"nx.test", nil, "DSorry, I couldn't find any host named nx.test. (#5.1.2)\n|", ""},
		{"servfail.test", nil, "ZSorry, I couldn't find any host by that name. (#4.1.2)\n|", ""},
		{"nothing.test", nil, "DSorry, I couldn't find a mail exchanger or IP address. (#5.4.4)\n|", ""},
		{"null.test", nil, textNullMX[:len(textNullMX)-1] + "\n|", ""},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			files := map[string]string{}
			if tc.moreipme != "" {
				files["moreipme"] = tc.moreipme
			}
			home := testHome(t, files)
			r := &Sender{Resolver: dns, Port: p.port(), IPMe: tc.me}
			if got := run(t, home, r, "x\n", tc.host, "a@b", "c@"+tc.host); got != tc.want {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestRelayNames: a relay is looked up by address records only, and a
// relay that does not exist is named in the bounce.
func TestRelayNames(t *testing.T) {
	p := startPeer(t, &fakePeer{})
	dns := &fakeDNS{A: map[string][]string{"smarthost.test": {"127.0.0.1"}}, MX: map[string][]MX{"smarthost.test": {{10, "wrong.mx"}}},
		Hard: map[string]bool{"gone.test": true}}
	home := testHome(t, map[string]string{"smtproutes": fmt.Sprintf(":smarthost.test:%d\nbad.test:gone.test\n", p.port())})
	me := func() (map[netip.Addr]bool, error) {
		return map[netip.Addr]bool{netip.MustParseAddr("127.0.0.1"): true}, nil
	}
	if got := run(t, home, &Sender{Resolver: dns, IPMe: me}, "x\n", "anywhere.test", "a@b", "c@anywhere.test"); got != "r|K127.0.0.1 accepted message.\nRemote host said: 250 ok queued\n|" {
		t.Errorf("smarthost: %q", got)
	}
	if got := run(t, home, &Sender{Resolver: dns}, "x\n", "bad.test", "a@b", "c@bad.test"); got != "DSorry, I couldn't find any host named gone.test. (#5.1.2)\n|" {
		t.Errorf("gone relay: %q", got)
	}
}
