// Package version says which build of trustd or trustctl is running: the
// module version, the commit, the build date and the Go version. Values
// come from the Go toolchain's build information (module version,
// vcs.revision, vcs.time) and can be overridden at link time, for builds
// made outside a checkout:
//
//	go build -ldflags "-X github.com/trustd-dev/trustd/internal/version.Version=v1.2.3 \
//	  -X github.com/trustd-dev/trustd/internal/version.Commit=abc123 \
//	  -X github.com/trustd-dev/trustd/internal/version.Date=2026-01-02T03:04:05Z"
package version

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Link-time overrides; empty means "from the build information".
var (
	// Version is the release version (e.g. v1.2.3).
	Version string
	// Commit is the VCS revision the binary was built from.
	Commit string
	// Date is the build (or commit) time, RFC 3339.
	Date string
)

// Unknown stands for a value neither the build information nor the
// linker gave.
const Unknown = "unknown"

// Info describes one build.
type Info struct {
	// Version is the module version, "dev" for a build from a checkout
	// without a version.
	Version string `json:"version"`
	// Commit is the VCS revision, Unknown when not recorded.
	Commit string `json:"commit"`
	// Modified says the working tree had uncommitted changes.
	Modified bool `json:"modified"`
	// BuildDate is the build time given at link time, else the commit
	// time, else Unknown.
	BuildDate string `json:"build_date"`
	// GoVersion is the Go toolchain that built the binary.
	GoVersion string `json:"go_version"`
}

// Get returns this binary's build description.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuildInfo(bi)
}

// fromBuildInfo merges bi (nil when the binary carries none) with the
// link-time overrides.
func fromBuildInfo(bi *debug.BuildInfo) Info {
	info := Info{Version: "dev", Commit: Unknown, BuildDate: Unknown, GoVersion: runtime.Version()}
	if bi != nil {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			info.Version = v
		}
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if s.Value != "" {
					info.Commit = s.Value
				}
			case "vcs.time":
				if s.Value != "" {
					info.BuildDate = s.Value
				}
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if Version != "" {
		info.Version = Version
	}
	if Commit != "" {
		info.Commit = Commit
	}
	if Date != "" {
		info.BuildDate = Date
	}
	return info
}

// String is the one-line form: "v1.2.3 (commit abc123, built 2026-…, go1.26.0)".
func (i Info) String() string {
	commit := i.Commit
	if i.Modified {
		commit += "+modified"
	}
	return i.Version + " (commit " + commit + ", built " + i.BuildDate + ", " + i.GoVersion + ")"
}

// Fprint writes info for people: the program and version on the first
// line, then the commit, build date and Go version, one per line.
func (i Info) Fprint(w io.Writer, prog string) error {
	commit := i.Commit
	if i.Modified {
		commit += " (modified)"
	}
	_, err := fmt.Fprintf(w, "%s %s\n  commit:     %s\n  build date: %s\n  go:         %s\n", prog, i.Version, commit, i.BuildDate, i.GoVersion)
	return err
}
