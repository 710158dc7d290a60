package keyset

import "testing"

func TestOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b []string
		same bool
	}{
		{"equal lists", []string{"k1", "k2"}, []string{"k1", "k2"}, true},
		{"order matters", []string{"k1", "k2"}, []string{"k2", "k1"}, false},
		{"keys do not run together", []string{"ab", "c"}, []string{"a", "bc"}, false},
		{"an empty key counts", []string{"k1"}, []string{"k1", ""}, false},
		{"empty and nil", nil, []string{}, true},
	} {
		if got := Of(tc.a) == Of(tc.b); got != tc.same {
			t.Errorf("%s: Of(%q) == Of(%q) is %v, want %v", tc.name, tc.a, tc.b, got, tc.same)
		}
	}
}
