// Package deploy_test checks the deployment files in deploy/: the compose
// file loads and validates as docker compose would load it (compose-go),
// and the systemd unit passes systemd-analyze verify and keeps its
// hardening.
package deploy_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads docker-compose.yml with env as the interpolation
// environment, as `docker compose --env-file` does.
func loadCompose(t *testing.T, envFile string) (*types.Project, error) {
	t.Helper()
	wd, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(wd, "docker-compose.yml")},
		cli.WithWorkingDirectory(wd), cli.WithEnvFiles(envFile), cli.WithDotEnv,
		cli.WithInterpolation(true), cli.WithNormalization(true), cli.WithConsistency(true))
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

func TestComposeFile(t *testing.T) {
	p, err := loadCompose(t, "example.env")
	if err != nil {
		t.Fatalf("docker-compose.yml with example.env: %v", err)
	}
	if p.Name != "trustd" {
		t.Errorf("project name %q, want trustd", p.Name)
	}
	names := p.ServiceNames()
	slices.Sort(names)
	if !slices.Equal(names, []string{"postgres", "trustd"}) {
		t.Fatalf("services %v, want postgres and trustd", names)
	}
	pg, td := p.Services["postgres"], p.Services["trustd"]
	if !strings.HasPrefix(pg.Image, "docker.io/library/postgres:") || td.Image != "trustd:latest" {
		t.Errorf("images %q %q", pg.Image, td.Image)
	}
	for _, s := range []types.ServiceConfig{pg, td} {
		if s.HealthCheck == nil || len(s.HealthCheck.Test) < 2 || s.HealthCheck.Test[0] != "CMD" || s.HealthCheck.Disable {
			t.Errorf("%s: healthcheck %+v, want an exec-form CMD check", s.Name, s.HealthCheck)
		}
	}
	// The image has no shell: its check must run trustd itself.
	if got := td.HealthCheck.Test; !slices.Equal(got, types.HealthCheckTest{"CMD", "/trustd", "healthcheck"}) {
		t.Errorf("trustd healthcheck %v", got)
	}
	if dep, ok := td.DependsOn["postgres"]; !ok || dep.Condition != types.ServiceConditionHealthy {
		t.Errorf("trustd depends_on %+v, want postgres healthy", td.DependsOn)
	}
	// Hardening: non-root, read-only root, no capabilities.
	if td.User != "65532:65532" || !td.ReadOnly || !slices.Equal(td.CapDrop, []string{"ALL"}) ||
		!slices.Contains(td.SecurityOpt, "no-new-privileges:true") {
		t.Errorf("trustd hardening: user %q read_only %v cap_drop %v security_opt %v", td.User, td.ReadOnly, td.CapDrop, td.SecurityOpt)
	}
	// State in named volumes.
	for svc, want := range map[string]string{"postgres": "/var/lib/postgresql/data", "trustd": "/var/lib/trustd"} {
		s := p.Services[svc]
		if len(s.Volumes) != 1 || s.Volumes[0].Type != types.VolumeTypeVolume || s.Volumes[0].Target != want {
			t.Errorf("%s volumes %+v, want one named volume at %s", svc, s.Volumes, want)
			continue
		}
		if _, ok := p.Volumes[s.Volumes[0].Source]; !ok {
			t.Errorf("%s: volume %q is not declared", svc, s.Volumes[0].Source)
		}
	}
	// The password comes from the env file into both services, never
	// written in the compose file.
	env := func(s types.ServiceConfig, k string) string {
		if v := s.Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	if env(pg, "POSTGRES_PASSWORD") != "CHANGE-ME" || env(td, "TRUSTD_DB") != "postgres://trustd:CHANGE-ME@postgres:5432/trustd?sslmode=disable" {
		t.Errorf("password from example.env: postgres %q, trustd %q", env(pg, "POSTGRES_PASSWORD"), env(td, "TRUSTD_DB"))
	}
	raw, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "CHANGE-ME") {
		t.Error("docker-compose.yml holds the example password itself")
	}
	// TLS beyond loopback: trustd refuses plaintext there, so the file
	// must hand it a certificate.
	if env(td, "TRUSTD_TLS_CERT") == "" || env(td, "TRUSTD_TLS_KEY") == "" || len(td.Secrets) != 2 {
		t.Errorf("trustd TLS: cert %q key %q secrets %+v", env(td, "TRUSTD_TLS_CERT"), env(td, "TRUSTD_TLS_KEY"), td.Secrets)
	}

	// Without the password, loading fails naming it (no silent empty
	// password).
	empty := filepath.Join(t.TempDir(), "empty.env")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("POSTGRES_PASSWORD", "")
	if _, err := loadCompose(t, empty); err == nil || !strings.Contains(err.Error(), "POSTGRES_PASSWORD") {
		t.Errorf("compose without POSTGRES_PASSWORD: %v, want an error naming it", err)
	}
}

// unitDirectives parses a unit file's Key=Value lines by section.
func unitDirectives(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, _ := strings.Cut(line, "=")
			out[section+"."+k] = append(out[section+"."+k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSystemdUnitHardening(t *testing.T) {
	d := unitDirectives(t, "trustd.service")
	for _, tc := range []struct{ key, want string }{
		{"Service.DynamicUser", "yes"},
		{"Service.StateDirectory", "trustd"},
		{"Service.ProtectSystem", "strict"},
		{"Service.ProtectHome", "yes"},
		{"Service.PrivateTmp", "yes"},
		{"Service.PrivateDevices", "yes"},
		{"Service.NoNewPrivileges", "yes"},
		{"Service.CapabilityBoundingSet", ""},
		{"Service.AmbientCapabilities", ""},
		{"Service.RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"},
		{"Service.SystemCallFilter", "@system-service"},
		{"Service.SystemCallArchitectures", "native"},
		{"Service.MemoryDenyWriteExecute", "yes"},
		{"Service.RestrictNamespaces", "yes"},
		{"Service.ProtectKernelTunables", "yes"},
		{"Service.ProtectKernelModules", "yes"},
		{"Service.ProtectControlGroups", "yes"},
		{"Service.LockPersonality", "yes"},
		{"Service.Environment", "TRUSTD_DATA_DIR=%S/trustd"},
	} {
		if got, ok := d[tc.key]; !ok || !slices.Contains(got, tc.want) {
			t.Errorf("%s = %q, want %q among them", tc.key, got, tc.want)
		}
	}
	// Nothing that would undo it.
	for _, k := range []string{"Service.User", "Service.ReadWritePaths", "Service.ProtectSystem"} {
		if k == "Service.ProtectSystem" {
			if len(d[k]) != 1 {
				t.Errorf("%s set %d times", k, len(d[k]))
			}
			continue
		}
		if v, ok := d[k]; ok {
			t.Errorf("%s=%v: the state directory is the only writable path, owned by the dynamic user", k, v)
		}
	}
}

// TestSystemdUnitVerifies runs systemd-analyze verify on the unit, its
// ExecStart pointed at a trustd built here (verify checks that the binary
// exists and is executable; nothing is started).
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze is not installed: run scripts/test-deps.sh")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "trustd")
	build := exec.Command("go", "build", "-o", bin, "../cmd/trustd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build trustd: %v\n%s", err, out)
	}
	unit, err := os.ReadFile("trustd.service")
	if err != nil {
		t.Fatal(err)
	}
	const exec0 = "ExecStart=/usr/local/bin/trustd"
	if strings.Count(string(unit), exec0) != 1 {
		t.Fatalf("the unit has no single %q line", exec0)
	}
	path := filepath.Join(dir, "trustd.service")
	if err := os.WriteFile(path, []byte(strings.Replace(string(unit), exec0, "ExecStart="+bin, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(analyze, "verify", "--man=no", path)
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}

	// verify does catch mistakes: a misspelt directive and a missing
	// binary both fail it.
	for name, edit := range map[string]func(string) string{
		"unknown directive": func(s string) string { return strings.Replace(s, "ProtectHome=yes", "ProtectHomes=yes", 1) },
		"missing binary":    func(s string) string { return strings.Replace(s, "ExecStart="+bin, "ExecStart="+bin+".missing", 1) },
	} {
		bad := filepath.Join(t.TempDir(), "trustd.service")
		good, _ := os.ReadFile(path)
		if err := os.WriteFile(bad, []byte(edit(string(good))), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(analyze, "verify", "--man=no", bad).CombinedOutput(); err == nil && len(strings.TrimSpace(string(out))) == 0 {
			t.Errorf("%s: systemd-analyze verify accepted it", name)
		}
	}
}
