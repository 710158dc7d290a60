package integration_test

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestVersions: trustd and trustctl print their build; trustctl version
// shows the server it talks to too, and without a server it still prints
// its own version, exits 0 and says why the server part is missing.
func TestVersions(t *testing.T) {
	r := run(t, nil, "trustd", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "trustd ") || !strings.Contains(r.stdout, "go:         "+runtime.Version()) || !strings.Contains(r.stdout, "commit:") {
		t.Errorf("trustd version: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var own struct {
		Version, Commit, BuildDate, GoVersion string
	}
	r = run(t, nil, "trustd", "version", "--output", "json")
	var raw map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil || r.code != 0 {
		t.Fatalf("trustd version --output json: exit %d %v\n%s", r.code, err, r.stdout)
	}
	for _, k := range []string{"version", "commit", "modified", "build_date", "go_version"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("trustd version --output json lacks %q: %s", k, r.stdout)
		}
	}
	own.Version, own.GoVersion = raw["version"].(string), raw["go_version"].(string)

	d := startTrustd(t, "--data-dir", filepath.Join(t.TempDir(), "data"), "--log-origin", "versions.example/log")
	r = trustctl(t, d.grpcAddr, "version", "--output", "json")
	var both struct {
		Client map[string]any `json:"client"`
		Server *struct {
			Version       string `json:"version"`
			GoVersion     string `json:"go_version"`
			LogOrigin     string `json:"log_origin"`
			Database      string `json:"database"`
			UptimeSeconds int64  `json:"uptime_seconds"`
		} `json:"server"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &both); err != nil || r.code != 0 || both.Server == nil {
		t.Fatalf("trustctl version --output json: exit %d %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if s := both.Server; s.Version != own.Version || s.GoVersion != own.GoVersion || s.LogOrigin != "versions.example/log" || s.Database != "sqlite" || s.UptimeSeconds < 0 {
		t.Errorf("server part %+v, want trustd's build, log origin versions.example/log, database sqlite", *s)
	}
	if both.Client["go_version"] != runtime.Version() {
		t.Errorf("client part %v", both.Client)
	}
	r = trustctl(t, d.grpcAddr, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "trustctl ") || !strings.Contains(r.stdout, "server "+d.grpcAddr+": trustd "+own.Version) || !strings.Contains(r.stdout, "log origin: versions.example/log") {
		t.Errorf("trustctl version: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// No server there: the client part, a note, exit 0.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := lis.Addr().String()
	lis.Close()
	r = run(t, nil, "trustctl", "--server", gone, "--timeout", "3s", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "trustctl ") || strings.Contains(r.stdout, "server ") || !strings.Contains(r.stderr, "server version not shown") {
		t.Errorf("trustctl version, no server: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, nil, "trustctl", "--server", gone, "--timeout", "3s", "version", "--output", "json")
	var alone map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &alone); err != nil || r.code != 0 || alone["server"] != nil || alone["server_error"] == "" || alone["client"] == nil {
		t.Errorf("trustctl version --output json, no server: exit %d %v\n%s", r.code, err, r.stdout)
	}
}

// TestSecondTrustdOnOneDataDir: a second trustd on the data directory a
// running one uses refuses to start, naming the directory and the first
// one's pid; so does migrate.
func TestSecondTrustdOnOneDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	d := startTrustd(t, "--data-dir", dir)
	pid := "(pid " + strconv.Itoa(d.cmd.Process.Pid) + ")"
	for _, args := range [][]string{
		{"--data-dir", dir, "--grpc-addr", "127.0.0.1:0", "--http-addr", ""},
		{"migrate", "--data-dir", dir},
	} {
		r := run(t, nil, "trustd", args...)
		if r.code != 2 || !strings.Contains(r.stderr, "--data-dir: data directory "+dir+" is in use by another trustd "+pid) {
			t.Errorf("trustd %v beside a running one: exit %d stderr %q; want exit 2 naming %s and %s", args, r.code, r.stderr, dir, pid)
		}
	}
}

// TestConfigFileEndToEnd: trustd started with a config file uses it
// beneath its flags, and config print tells where each value came from
// without showing the database password.
func TestConfigFileEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "trustd.yaml")
	writeTestFile(t, cfg, []byte("data-dir: "+filepath.Join(dir, "data")+"\nlog-origin: file.example/log\ngrpc-addr: 127.0.0.1:1\n"))
	d := startTrustd(t, "--config", cfg)
	r := trustctl(t, d.grpcAddr, "version", "--output", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"log_origin": "file.example/log"`) {
		t.Errorf("trustd with --config: version exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	writeTestFile(t, filepath.Join(dir, "pg.toml"), []byte("db = \"postgres://trustd:hunter2@db/trustd\"\n"))
	r = runEnv(t, append(os.Environ(), "TRUSTD_LOG_LEVEL=debug"), "trustd", "config", "print", "--config", filepath.Join(dir, "pg.toml"), "--grpc-addr", "127.0.0.1:7999", "--output", "json")
	var rep struct {
		Settings []struct {
			Name   string `json:"name"`
			Value  any    `json:"value"`
			Source string `json:"source"`
		} `json:"settings"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 || strings.Contains(r.stdout, "hunter2") {
		t.Fatalf("config print: exit %d %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	want := map[string]string{"db": "file", "log-level": "env", "grpc-addr": "flag", "log-format": "default"}
	for _, s := range rep.Settings {
		if w, ok := want[s.Name]; ok && s.Source != w {
			t.Errorf("config print: %s from %s, want %s", s.Name, s.Source, w)
		}
	}
	writeTestFile(t, filepath.Join(dir, "bad.yaml"), []byte("grcp-addr: x\n"))
	r = run(t, nil, "trustd", "--config", filepath.Join(dir, "bad.yaml"))
	if r.code != 2 || !strings.Contains(r.stderr, "bad.yaml:1: unknown key \"grcp-addr\"") {
		t.Errorf("unknown key: exit %d stderr %q", r.code, r.stderr)
	}
}
