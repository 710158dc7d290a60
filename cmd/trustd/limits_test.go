package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/server"
)

// TestLimitFlags: every limit flag is validated naming the flag, and the
// attestation bound never exceeds the request cap.
func TestLimitFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // "" when valid
		mod  func(t *testing.T, c *config)
	}{
		{"defaults", nil, "", func(t *testing.T, c *config) {
			if c.MaxRequestBytes != 4<<20 || c.MaxAttestationBytes != attest.MaxStatementWithin(4<<20) {
				t.Errorf("request %d, attestation %d: want 4 MiB and the largest statement that fits", c.MaxRequestBytes, c.MaxAttestationBytes)
			}
			l := c.Limits
			if l.MaxStatementSubjects != 1000 || l.MaxEvidence != server.DefaultMaxEvidencePerLookup || l.WritesPerKey != defaultWritesPerKey || l.WritesPerPeer != defaultWritesPerPeer ||
				l.MaxInFlightReads != defaultMaxInFlightReads || l.MaxInFlightWrites != defaultMaxInFlightWrites || l.QueueWait != defaultQueueWait {
				t.Errorf("limits %+v", l)
			}
		}},
		{"attestation follows the request cap", []string{"--max-request-bytes", "1048576"}, "", func(t *testing.T, c *config) {
			if c.MaxAttestationBytes != attest.MaxStatementWithin(1<<20) || attest.EnvelopeBound(c.MaxAttestationBytes)+attest.RequestOverhead > 1<<20 {
				t.Errorf("attestation %d under a 1 MiB request cap", c.MaxAttestationBytes)
			}
		}},
		{"attestation larger than the request cap", []string{"--max-attestation-bytes", "16777216"}, "--max-request-bytes: 4194304 cannot carry a signed statement of 16777216 bytes", nil},
		{"explicit attestation that fits", []string{"--max-attestation-bytes", "1048576"}, "", nil},
		{"request cap too small for any attestation", []string{"--max-request-bytes", "2048"}, "--max-request-bytes: 2048 cannot carry", nil},
		{"attestation below the minimum", []string{"--max-attestation-bytes", "10"}, "--max-attestation-bytes: 10 is below the minimum 1024", nil},
		{"no subjects", []string{"--max-statement-subjects", "0"}, "--max-statement-subjects", nil},
		{"no evidence", []string{"--max-evidence-per-lookup", "0"}, "--max-evidence-per-lookup", nil},
		{"more evidence than a bundle", []string{"--max-evidence-per-lookup", "501"}, "--max-evidence-per-lookup: 501 is not between 1 and 500", nil},
		{"negative rate", []string{"--write-rate-per-key", "-1"}, "--write-rate-per-key", nil},
		{"zero window", []string{"--write-rate-window", "0s"}, "--write-rate-window", nil},
		{"rates off, no window needed", []string{"--write-rate-per-key", "0", "--write-rate-per-peer", "0", "--write-rate-window", "0s"}, "", nil},
		{"bad exempt cidr", []string{"--write-rate-exempt-cidr", "10.0.0.0/33"}, "--write-rate-exempt-cidr: \"10.0.0.0/33\"", nil},
		{"exempt cidr and address", []string{"--write-rate-exempt-cidr", "10.1.2.3/8,192.0.2.9"}, "", func(t *testing.T, c *config) {
			got := []string{}
			for _, p := range c.Limits.exemptPrefixes {
				got = append(got, p.String())
			}
			if strings.Join(got, " ") != "10.0.0.0/8 192.0.2.9/32" {
				t.Errorf("exempt prefixes %v", got)
			}
		}},
		{"negative in-flight", []string{"--max-inflight-reads", "-1"}, "--max-inflight-reads", nil},
		{"negative queue wait", []string{"--max-queue-wait", "-1s"}, "--max-queue-wait", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c config
			fs := pflag.NewFlagSet("trustd", pflag.ContinueOnError)
			c.storeFlags(fs)
			c.serveFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := c.complete(fs)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("complete: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("complete = %v, want an error containing %q", err, tc.want)
			}
			if tc.mod != nil {
				tc.mod(t, &c)
			}
		})
	}
}
