package cliutil

import (
	"bytes"
	"errors"
	"testing"

	"github.com/spf13/pflag"
)

func TestBindEnv(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	addr := fs.String("grpc-addr", "default", "")
	level := fs.String("log-level", "info", "")
	n := fs.Int("max-bytes", 1, "")
	if err := fs.Parse([]string{"--log-level=debug"}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TRUSTD_GRPC_ADDR", "from-env")
	t.Setenv("TRUSTD_LOG_LEVEL", "from-env-ignored")
	if err := BindEnv(fs, "TRUSTD"); err != nil {
		t.Fatal(err)
	}
	if *addr != "from-env" || *level != "debug" || *n != 1 {
		t.Errorf("addr=%q level=%q n=%d; want env to fill only unset flags", *addr, *level, *n)
	}
	t.Setenv("TRUSTD_MAX_BYTES", "lots")
	if err := BindEnv(fs, "TRUSTD"); err == nil || !bytes.Contains([]byte(err.Error()), []byte("TRUSTD_MAX_BYTES")) {
		t.Errorf("bad env value: err = %v, want one naming TRUSTD_MAX_BYTES", err)
	}
}

func TestExit(t *testing.T) {
	tests := []struct {
		err  error
		code int
		out  string
	}{
		{nil, 0, ""},
		{errors.New("digest \"x\":\n  bad"), 2, "prog: digest \"x\": bad\n"},
		{Negative(errors.New("no subject")), 1, "prog: no subject\n"},
	}
	for _, tc := range tests {
		var b bytes.Buffer
		if code := Exit(&b, "prog", tc.err); code != tc.code || b.String() != tc.out {
			t.Errorf("Exit(%v) = %d %q, want %d %q", tc.err, code, b.String(), tc.code, tc.out)
		}
	}
}
