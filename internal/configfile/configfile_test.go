package configfile

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzParseConfigFile: any bytes, YAML or TOML, parse or fail with an
// error; never a panic, and every setting parsed has a value or is a list.
func FuzzParseConfigFile(f *testing.F) {
	for _, name := range []string{"full.yaml", "full.toml"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, strings.HasSuffix(name, ".toml"))
	}
	f.Add([]byte("db: [a\n"), false)
	f.Add([]byte("a:\n  b: c\n"), false)
	f.Add([]byte("&a [*a]"), false)
	f.Add([]byte("[t]\nx=1\n"), true)
	f.Add([]byte("x = inf\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, isTOML bool) {
		cf, err := Parse("fuzz", data, isTOML)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not a config file error", err)
			}
			return
		}
		for k, s := range cf.Settings {
			if k == "" && !isTOML {
				t.Errorf("empty key parsed")
			}
			if !s.List && len(s.Values) != 1 {
				t.Errorf("scalar %q with %d values", k, len(s.Values))
			}
		}
	})
}

// TestTestdata: the example YAML and TOML files parse to the same
// settings, lines included.
func TestTestdata(t *testing.T) {
	var got []map[string]Setting
	for _, name := range []string{"full.yaml", "full.toml"} {
		cf, err := Read(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, cf.Settings)
	}
	if !reflect.DeepEqual(got[0], got[1]) {
		t.Errorf("YAML and TOML differ:\n%v\n%v", got[0], got[1])
	}
	if s := got[0]["witness"]; !s.List || len(s.Values) != 1 || !strings.Contains(s.Values[0], ", with a comma") {
		t.Errorf("witness = %+v, want one item kept whole", s)
	}
}
