package main

import "testing"

func TestProbeURL(t *testing.T) {
	for _, tc := range []struct {
		addr  string
		https bool
		want  string
		err   bool
	}{
		{addr: "0.0.0.0:7401", want: "http://127.0.0.1:7401/readyz"},
		{addr: ":7401", want: "http://127.0.0.1:7401/readyz"},
		{addr: "[::]:7401", https: true, want: "https://[::1]:7401/readyz"},
		{addr: "10.1.2.3:80", want: "http://10.1.2.3:80/readyz"},
		{addr: "trustd.internal:7401", https: true, want: "https://trustd.internal:7401/readyz"},
		{addr: "", err: true},
		{addr: "no-port", err: true},
	} {
		got, err := probeURL(tc.addr, tc.https, "/readyz")
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("probeURL(%q, %v) = %q, %v; want %q, error %v", tc.addr, tc.https, got, err, tc.want, tc.err)
		}
	}
}
