package main

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"time"

	"github.com/spf13/pflag"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/ratelimit"
	"github.com/trustd-dev/trustd/server"
)

// limitsConfig are the flags that bound what one caller can make trustd
// store or hold at once.
type limitsConfig struct {
	MaxStatementSubjects int
	MaxEvidence          int
	WritesPerKey         int
	WritesPerPeer        int
	WriteWindow          time.Duration
	ExemptKeys           []string
	ExemptCIDRs          []string
	MaxInFlightReads     int
	MaxInFlightWrites    int
	QueueWait            time.Duration

	exemptPrefixes []netip.Prefix
}

// readsPerCPU is the default --max-inflight-reads per CPU: a lookup is
// mostly CPU (SQLite) or a few round trips on a pool of about one
// connection per CPU (PostgreSQL), so more in flight adds no throughput,
// only latency, and starves the transport that sheds the excess.
const readsPerCPU = 4

// defaultMaxInFlightReads is readsPerCPU per CPU trustd may use.
var defaultMaxInFlightReads = readsPerCPU * runtime.GOMAXPROCS(0)

// Defaults of the limits, as --help and the README state them.
const (
	defaultWritesPerKey      = 600
	defaultWritesPerPeer     = 1200
	defaultWriteWindow       = time.Minute
	defaultMaxInFlightWrites = 32
	defaultQueueWait         = 10 * time.Millisecond
)

func (l *limitsConfig) flags(fs *pflag.FlagSet) {
	fs.IntVar(&l.MaxStatementSubjects, "max-statement-subjects", envelope.DefaultMaxSubjects, "most subjects one in-toto statement may name; more is refused (InvalidArgument) before anything is stored (env TRUSTD_MAX_STATEMENT_SUBJECTS)")
	fs.IntVar(&l.MaxEvidence, "max-evidence-per-lookup", server.DefaultMaxEvidencePerLookup, "most facts (log entries) one subject lookup returns, at most 500 (what one evidence bundle carries); callers page beyond with page_token (env TRUSTD_MAX_EVIDENCE_PER_LOOKUP)")
	fs.IntVar(&l.WritesPerKey, "write-rate-per-key", defaultWritesPerKey, "new log entries one key may sign per --write-rate-window (statements, attestations, OpenPGP manifests, revocations), in bursts of up to as many; 0 disables (env TRUSTD_WRITE_RATE_PER_KEY)")
	fs.IntVar(&l.WritesPerPeer, "write-rate-per-peer", defaultWritesPerPeer, "write calls one client address (IPv4, or IPv6 /64) may make per --write-rate-window, in bursts of up to as many; 0 disables (env TRUSTD_WRITE_RATE_PER_PEER)")
	fs.DurationVar(&l.WriteWindow, "write-rate-window", defaultWriteWindow, "window of --write-rate-per-key and --write-rate-per-peer (env TRUSTD_WRITE_RATE_WINDOW)")
	fs.StringSliceVar(&l.ExemptKeys, "write-rate-exempt-key", nil, "key id never charged to --write-rate-per-key (operator or benchmark keys); repeatable or comma-separated; default none (env TRUSTD_WRITE_RATE_EXEMPT_KEY)")
	fs.StringSliceVar(&l.ExemptCIDRs, "write-rate-exempt-cidr", nil, "client addresses (CIDR, e.g. 10.0.0.0/8, or one address) never charged to --write-rate-per-peer: a load balancer in front of trustd, benchmark hosts; repeatable or comma-separated; default none (env TRUSTD_WRITE_RATE_EXEMPT_CIDR)")
	fs.IntVar(&l.MaxInFlightReads, "max-inflight-reads", defaultMaxInFlightReads, "read calls (gRPC and HTTP) served at once, by default 4 per CPU; as many more wait up to --max-queue-wait for a slot, the rest are refused (ResourceExhausted) at once; 0 disables (env TRUSTD_MAX_INFLIGHT_READS)")
	fs.IntVar(&l.MaxInFlightWrites, "max-inflight-writes", defaultMaxInFlightWrites, "write calls served at once; beyond it as --max-inflight-reads; 0 disables (env TRUSTD_MAX_INFLIGHT_WRITES)")
	fs.DurationVar(&l.QueueWait, "max-queue-wait", defaultQueueWait, "how long a call beyond --max-inflight-reads/-writes waits for a free slot before it is refused (env TRUSTD_MAX_QUEUE_WAIT)")
}

// check validates the limits, naming the flag at fault.
func (l *limitsConfig) check() error {
	var errs []error
	if l.MaxStatementSubjects < 1 {
		errs = append(errs, fmt.Errorf("--max-statement-subjects: %d is below 1", l.MaxStatementSubjects))
	}
	if l.MaxEvidence < 1 || l.MaxEvidence > server.DefaultMaxEvidencePerLookup {
		errs = append(errs, fmt.Errorf("--max-evidence-per-lookup: %d is not between 1 and %d (what one evidence bundle carries)", l.MaxEvidence, server.DefaultMaxEvidencePerLookup))
	}
	if l.WritesPerKey < 0 || l.WritesPerPeer < 0 {
		errs = append(errs, errors.New("--write-rate-per-key and --write-rate-per-peer must not be negative (0 disables)"))
	}
	if (l.WritesPerKey > 0 || l.WritesPerPeer > 0) && l.WriteWindow <= 0 {
		errs = append(errs, fmt.Errorf("--write-rate-window: %s must be positive", l.WriteWindow))
	}
	for _, k := range l.ExemptKeys {
		if k == "" {
			errs = append(errs, errors.New("--write-rate-exempt-key: empty key id"))
		}
	}
	l.exemptPrefixes = nil
	for _, c := range l.ExemptCIDRs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			a, aerr := netip.ParseAddr(c)
			if aerr != nil {
				errs = append(errs, fmt.Errorf("--write-rate-exempt-cidr: %q is neither a CIDR prefix nor an address", c))
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		l.exemptPrefixes = append(l.exemptPrefixes, p.Masked())
	}
	if l.MaxInFlightReads < 0 || l.MaxInFlightWrites < 0 {
		errs = append(errs, errors.New("--max-inflight-reads and --max-inflight-writes must not be negative (0 disables)"))
	}
	if l.QueueWait < 0 {
		errs = append(errs, fmt.Errorf("--max-queue-wait: %s is negative", l.QueueWait))
	}
	return errors.Join(errs...)
}

// keyQuota is the per-key write quota the statement log charges; nil when
// --write-rate-per-key is 0.
func (l *limitsConfig) keyQuota() (*ratelimit.Limiter, error) {
	return ratelimit.New(ratelimit.Options{Limit: l.WritesPerKey, Window: l.WriteWindow, Flag: "--write-rate-per-key",
		Exempt: l.ExemptKeys, Describe: func(k string) string { return "key " + k }})
}

// server returns the server's load shedding limits.
func (l *limitsConfig) server() (server.Limits, error) {
	peers, err := ratelimit.New(ratelimit.Options{Limit: l.WritesPerPeer, Window: l.WriteWindow, Flag: "--write-rate-per-peer",
		Describe: func(k string) string { return k }})
	if err != nil {
		return server.Limits{}, err
	}
	return server.Limits{MaxInFlightReads: l.MaxInFlightReads, MaxInFlightWrites: l.MaxInFlightWrites, QueueWait: l.QueueWait,
		PeerWrites: peers, PeerExempt: l.exemptPrefixes}, nil
}
