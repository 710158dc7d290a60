package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestStartupDeps keeps the server-side heavyweights out of trustctl: their
// package initialisation alone (Sigstore's Rekor models, Prometheus) cost
// 5 ms of every command's start, and `trustctl verify --offline` on a small
// file is measured against a quarter of cosign's wall time.
func TestStartupDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, banned := range []string{
		"github.com/sigstore/sigstore-go/pkg/verify",
		"github.com/prometheus/client_golang/prometheus",
		"github.com/trustd-dev/trustd/server",
		"github.com/trustd-dev/trustd/attest",
	} {
		for _, dep := range strings.Fields(string(out)) {
			if dep == banned {
				t.Errorf("trustctl depends on %s; keep it to the server side", banned)
			}
		}
	}
}
