package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/timerule"
)

// recentEntries is how many of the newest log entries the log page lists
// and a key page searches for what the key signed and what revoked it
// (the store indexes entries by digest, not by signer).
const (
	recentEntries = 50
	keyScan       = 500
)

// entryView is a log entry as the pages list it.
type entryView struct {
	Seq           int64
	PayloadType   string
	PredicateType string
	Signers       []string
	RecordedAt    time.Time
	Ignored       bool
}

func entryOf(st store.Statement) entryView {
	e := entryView{Seq: st.Seq, PayloadType: st.PayloadType, PredicateType: st.PredicateType, Signers: st.SignerKeyIDs, RecordedAt: st.RecordedAt,
		Ignored: !recordtype.Genuine(st.PayloadType, st.PredicateType)}
	return e
}

// recent reads up to n of the newest log entries, newest first.
func (h *Handler) recent(ctx context.Context, n int, envelopes bool) (uint64, []store.Statement, error) {
	size, err := h.opts.Store.LogSize(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("web: log size: %w", err)
	}
	var seqs []int64
	for s := int64(size); s >= 1 && len(seqs) < n; s-- {
		seqs = append(seqs, s)
	}
	if len(seqs) == 0 {
		return size, nil, nil
	}
	sts, err := h.opts.Store.StatementsBySeq(ctx, seqs, envelopes)
	if err != nil {
		return 0, nil, fmt.Errorf("web: recent log entries: %w", err)
	}
	sort.Slice(sts, func(i, j int) bool { return sts[i].Seq > sts[j].Seq })
	return size, sts, nil
}

type logPage struct {
	Checkpoint  string
	VerifierKey string
	Size        uint64
	Origin      string
	RootHash    string
	LatestAt    time.Time
	Age         string
	Entries     []entryView
}

func (h *Handler) logPage(r *http.Request) result {
	ctx := r.Context()
	cp, err := h.opts.Log.GetCheckpoint(ctx, &trustv1.GetCheckpointRequest{})
	if err != nil {
		return result{err: err}
	}
	p := logPage{Checkpoint: string(cp.GetCheckpoint()), VerifierKey: cp.GetVerifierKey()}
	lines := strings.SplitN(p.Checkpoint, "\n", 4)
	if len(lines) >= 3 {
		p.Origin, p.RootHash = lines[0], lines[2]
		p.Size, _ = strconv.ParseUint(lines[1], 10, 64)
	}
	_, sts, err := h.recent(ctx, recentEntries, false)
	if err != nil {
		return result{err: err}
	}
	for _, st := range sts {
		p.Entries = append(p.Entries, entryOf(st))
	}
	if len(sts) > 0 {
		p.LatestAt = sts[0].RecordedAt
		p.Age = h.opts.Now().Sub(p.LatestAt).Truncate(time.Second).String()
	}
	return result{name: "log", title: "log", data: p}
}

type keyPage struct {
	Key        *trustv1.Key
	Revocation *trustv1.Revocation
	InForce    bool
	// History are the revocation statements naming the key among the
	// latest Scanned entries; Signed the entries it signed.
	History []historyItem
	Signed  []entryView
	Scanned int
	// Class and Headline are the key's status at a glance.
	Class, Headline string
	// Unregistered is true for a key not in the registry (a TUF or
	// trustd key) that signed log entries.
	Unregistered bool
}

type historyItem struct {
	Seq        int64
	Action     string
	Reason     string
	Effective  time.Time
	Comment    string
	Revokers   []string
	RecordedAt time.Time
}

func (h *Handler) key(r *http.Request) result {
	ctx := r.Context()
	id := r.PathValue("id")
	p := keyPage{}
	kr, err := h.opts.Keys.GetKey(ctx, &trustv1.GetKeyRequest{KeyId: id})
	switch {
	case err == nil:
		p.Key = kr.GetKey()
	case h.notFound(ctx, err):
		// Not in the registry: a TUF key or trustd's own key still signs
		// log entries and may be revoked.
		p.Key, p.Unregistered = &trustv1.Key{Id: id}, true
	default:
		return result{err: err}
	}
	if h.opts.Revocations != nil {
		lr, err := h.opts.Revocations.LookupRevocation(ctx, &trustv1.LookupRevocationRequest{Kind: string(revocation.KindKey), Id: p.Key.GetId()})
		if err != nil {
			return result{err: err}
		}
		p.Revocation, p.InForce = lr.GetRevocation(), lr.GetInForce()
	}
	_, sts, err := h.recent(ctx, keyScan, true)
	if err != nil {
		return result{err: err}
	}
	p.Scanned = len(sts)
	for _, st := range sts {
		signed := false
		for _, s := range st.SignerKeyIDs {
			signed = signed || s == p.Key.GetId()
		}
		if signed {
			p.Signed = append(p.Signed, entryOf(st))
		}
		if st.PredicateType == recordtype.Revocation && recordtype.Genuine(st.PayloadType, st.PredicateType) {
			var stmt struct {
				Predicate revocation.Predicate `json:"predicate"`
			}
			if json.Unmarshal(st.Payload, &stmt) == nil && stmt.Predicate.Target.Kind == revocation.KindKey && stmt.Predicate.Target.ID == p.Key.GetId() {
				pr := stmt.Predicate
				p.History = append(p.History, historyItem{Seq: st.Seq, Action: string(pr.Action), Reason: string(pr.Reason), Effective: pr.Effective,
					Comment: pr.Comment, Revokers: st.SignerKeyIDs, RecordedAt: st.RecordedAt})
			}
		}
	}
	p.Class, p.Headline = ClassValid, "Valid"
	if r := p.Revocation; r != nil {
		switch {
		case r.GetAction() != string(revocation.ActionRevoke):
			p.Class, p.Headline = ClassReinstated, "Reinstated"
		case timerule.Hard(r.GetReason()):
			// A hard revocation voids every signature the key made.
			p.Class, p.Headline = ClassRevoked, "Revoked"
		default:
			// A soft one stops what the log observes from its effective
			// time on; what came before still counts.
			p.Class, p.Headline = ClassSuperseded, "Superseded ("+r.GetReason()+")"
		}
	}
	if p.Unregistered && p.Revocation == nil && len(p.Signed) == 0 && len(p.History) == 0 {
		return result{status: http.StatusNotFound, err: fmt.Errorf("key %s: not a registered key, and it signed none of the latest %d log entries", id, p.Scanned)}
	}
	return result{name: "key", title: "key " + p.Key.GetId(), data: p}
}

type tufPage struct {
	Status *trustv1.GetStatusResponse
	Now    time.Time
}

func (h *Handler) tufRepo(r *http.Request) result {
	if h.opts.TUF == nil {
		return result{status: http.StatusNotFound, err: errors.New("this server serves no TUF repositories")}
	}
	st, err := h.opts.TUF.GetStatus(r.Context(), &trustv1.GetStatusRequest{Repo: r.PathValue("name")})
	if err != nil {
		return result{err: err}
	}
	return result{name: "tuf", title: "TUF repository " + st.GetRepo(), data: tufPage{Status: st, Now: h.opts.Now()}}
}

// notFound reports whether err is a service's "not found".
func (h *Handler) notFound(ctx context.Context, err error) bool {
	if errors.Is(err, store.ErrNotFound) {
		return true
	}
	code, _ := h.status(ctx, err)
	return code == http.StatusNotFound
}
