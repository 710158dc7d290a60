package pkcs11

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// module is any existing absolute file: ParseURI checks the path exists,
// Open loads it.
func testModule(t testing.TB) string {
	p := filepath.Join(t.TempDir(), "libtoken.so")
	if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseURI(t *testing.T) {
	mod := testModule(t)
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		uri, def string
		want     Ref
	}{
		{"pkcs11:token=release;object=targets?module-path=" + mod,
			"", Ref{Module: mod, Token: "release", Label: "targets"}},
		{"pkcs11:token=my%20token;id=%01%02?module-path=" + mod + "&pin-value=1234",
			"", Ref{Module: mod, Token: "my token", ID: []byte{1, 2}, PIN: "1234", HasPIN: true}},
		{"pkcs11:serial=abc;object=k;type=private?pin-source=file:" + pinFile,
			mod, Ref{Module: mod, Serial: "abc", Label: "k", PIN: "s3cret", HasPIN: true}},
		{"pkcs11:object=k?pin-source=" + pinFile,
			mod, Ref{Module: mod, Label: "k", PIN: "s3cret", HasPIN: true}},
	} {
		got, err := ParseURI(c.uri, c.def)
		if err != nil {
			t.Errorf("ParseURI(%s): %v", c.uri, err)
			continue
		}
		if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", c.want) || got.PIN != c.want.PIN || got.Module != c.want.Module {
			t.Errorf("ParseURI(%s) = %+v, want %+v", c.uri, got, c.want)
		}
	}
	// module-name is looked up in ModuleDirs.
	saved := ModuleDirs
	ModuleDirs = []string{filepath.Dir(mod)}
	byName, err := ParseURI("pkcs11:object=k?module-name=token", "")
	ModuleDirs = saved
	if err != nil || byName.Module != mod {
		t.Errorf("module-name: %+v (module %s), %v; want %s", byName, byName.Module, err, mod)
	}
	slot, err := ParseURI("pkcs11:slot-id=7;object=k", mod)
	if err != nil || slot.SlotID == nil || *slot.SlotID != 7 {
		t.Errorf("slot-id: %v %v", slot, err)
	}
}

func TestParseURIRejects(t *testing.T) {
	mod := testModule(t)
	for _, c := range []struct{ uri, def, field string }{
		{"/tmp/key.pem", mod, "uri"},
		{"pkcs11:object=k;object=j", mod, "uri"},
		{"pkcs11:token=t", mod, "object"},
		{"pkcs11:object=k;type=public", mod, "type"},
		{"pkcs11:object=k;slot-id=x", mod, "uri"},
		{"pkcs11:object=k", "", "module-path"},
		{"pkcs11:object=k", "relative.so", "module-path"},
		{"pkcs11:object=k?module-path=/nonexistent/lib.so", "", "module-path"},
		{"pkcs11:object=k?module-path=" + mod + "&pin-value=1&pin-source=/x", "", "uri"},
		{"pkcs11:object=k?pin-source=relative", mod, "pin-source"},
		{"pkcs11:object=k?pin-source=/nonexistent/pin", mod, "pin-source"},
		{"pkcs11:object=%zz", mod, "uri"},
		{"pkcs11:" + strings.Repeat("a", maxURI), mod, "uri"},
	} {
		_, err := ParseURI(c.uri, c.def)
		if !errors.Is(err, ErrBadURI) {
			t.Errorf("ParseURI(%.60s) = %v, want ErrBadURI", c.uri, err)
			continue
		}
		if !strings.Contains(err.Error(), ": "+c.field+": ") {
			t.Errorf("ParseURI(%.60s) = %v, want field %s named", c.uri, err, c.field)
		}
	}
}

func TestReadPINFileBounds(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(big, []byte(strings.Repeat("1", maxPINFile+1)), 0o600)
	_ = os.WriteFile(empty, []byte("\n"), 0o600)
	for _, p := range []string{big, empty} {
		if _, err := ReadPINFile(p); err == nil {
			t.Errorf("ReadPINFile(%s) accepted", p)
		}
	}
}

func FuzzParseURI(f *testing.F) {
	mod := testModule(f)
	for _, s := range []string{
		"pkcs11:token=release;object=targets?module-path=" + mod,
		"pkcs11:token=a%20b;id=%01%ff?pin-value=1234&module-name=softhsm2",
		"pkcs11:slot-id=3;object=k;type=private",
		"pkcs11:object=k?pin-source=file:/nonexistent",
		"pkcs11:", "pkcs11:;;??&&==", "pkcs11:object=%",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		r, err := ParseURI(uri, mod)
		if err != nil {
			if !errors.Is(err, ErrBadURI) {
				t.Fatalf("error without ErrBadURI: %v", err)
			}
			return
		}
		if r.Label == "" && len(r.ID) == 0 {
			t.Fatalf("accepted a URI naming no key: %q", uri)
		}
		if r.Module == "" {
			t.Fatalf("accepted a URI with no module: %q", uri)
		}
		// String names the same key and carries no PIN.
		if len(r.String()) > maxURI {
			return // escaping can lengthen it past the bound
		}
		again, err := ParseURI(r.String(), mod)
		if err != nil {
			t.Fatalf("String %q does not parse: %v", r.String(), err)
		}
		if again.HasPIN || again.Label != r.Label || again.Token != r.Token || again.Serial != r.Serial || string(again.ID) != string(r.ID) {
			t.Fatalf("String %q parses to %#v, want the key of %#v without PIN", r.String(), again, r)
		}
	})
}
