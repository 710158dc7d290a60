package version

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	vcs := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	tests := []struct {
		name                  string
		bi                    *debug.BuildInfo
		version, commit, date string
		want                  Info
	}{
		{"no build info", nil, "", "", "", Info{Version: "dev", Commit: Unknown, BuildDate: Unknown}},
		{"devel checkout", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}}, "", "", "",
			Info{Version: "dev", Commit: Unknown, BuildDate: Unknown, GoVersion: "go1.26.0"}},
		{"vcs stamped", vcs, "", "", "", Info{Version: "v1.2.3", Commit: "abc123", Modified: true, BuildDate: "2026-01-02T03:04:05Z", GoVersion: "go1.26.0"}},
		{"ldflags win", vcs, "v9.9.9", "fff", "2027-01-01T00:00:00Z", Info{Version: "v9.9.9", Commit: "fff", Modified: true, BuildDate: "2027-01-01T00:00:00Z", GoVersion: "go1.26.0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			Version, Commit, Date = tc.version, tc.commit, tc.date
			t.Cleanup(func() { Version, Commit, Date = "", "", "" })
			got := fromBuildInfo(tc.bi)
			if tc.want.GoVersion == "" {
				tc.want.GoVersion = got.GoVersion // runtime.Version()
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if s := (Info{Version: "v1", Commit: "c", Modified: true, BuildDate: "d", GoVersion: "go1"}).String(); s != "v1 (commit c+modified, built d, go1)" {
		t.Errorf("String = %q", s)
	}
}
