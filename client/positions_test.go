package client

import "testing"

func TestPositionsRaise(t *testing.T) {
	steps := []struct {
		give, want string
	}{
		{"0/16B3740", "0/16B3740"},
		{"0/16B373F", "0/16B3740"}, // earlier: kept
		{"not-a-position", "0/16B3740"},
		{"1/0", "1/0"},
		{"0/FFFFFFFF", "1/0"},
		{"123456789/0", "1/0"}, // too long a half
		{"A/B374D848", "A/B374D848"},
	}
	var p positions
	for _, s := range steps {
		p.raise(s.give)
		if got := p.get(); got != s.want {
			t.Fatalf("after raise(%q): %q, want %q", s.give, got, s.want)
		}
	}
}

func TestValidLSN(t *testing.T) {
	for s, want := range map[string]bool{"0/0": true, "16/B374D848": true, "": false, "16": false, "/1": false, "1/": false, "g/1": false, "+1/1": false, "1/2/3": false} {
		if ValidLSN(s) != want {
			t.Errorf("ValidLSN(%q) = %v, want %v", s, !want, want)
		}
	}
}
