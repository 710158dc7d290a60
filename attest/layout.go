package attest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	intoto "github.com/in-toto/in-toto-golang/in_toto"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/inputerr"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/store"
)

// loadMetadata parses an in-toto v0.9 metablock or an in-toto 1.0 DSSE
// envelope of a layout or link with in-toto-golang's own loader and
// validator. That loader reads only files, so the bytes go
// through a private temporary file.
func loadMetadata(raw []byte) (intoto.Metadata, error) {
	f, err := os.CreateTemp("", "trustd-intoto-*.json")
	if err != nil {
		return nil, fmt.Errorf("attest: in-toto metadata: %w", err)
	}
	defer os.Remove(f.Name())
	_, werr := f.Write(raw)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, fmt.Errorf("attest: in-toto metadata: %w", werr)
	}
	md, err := intoto.LoadMetadata(f.Name())
	if err != nil {
		return nil, err
	}
	if mb, ok := md.(*intoto.Metablock); ok {
		var top struct {
			Signed json.RawMessage `json:"signed"`
		}
		if err := json.Unmarshal(raw, &top); err != nil {
			return nil, err
		}
		return &signedAsGiven{Metablock: mb, signed: top.Signed}, nil
	}
	return md, nil
}

// signedAsGiven is a v0.9 metablock whose signatures verify over the
// canonical JSON of its "signed" object exactly as given. in-toto-golang
// verifies over its own re-encoding of the parsed layout or link, which
// drops what its types leave out (the empty "private" of the RSA keys that
// Python securesystemslib writes into layouts), so a layout signed by
// Python in-toto would not verify.
type signedAsGiven struct {
	*intoto.Metablock
	signed json.RawMessage
}

// VerifySignature verifies the signature by key over the signed object as
// given, with in-toto-golang's verifier.
func (m *signedAsGiven) VerifySignature(key intoto.Key) error {
	raw := intoto.Metablock{Signed: m.signed, Signatures: m.Signatures}
	return raw.VerifySignature(key)
}

// inTotoDSSEPayload returns the payload of a DSSE envelope (top, its
// members) that is an in-toto 1.0 layout or link (ITE-5: payload type
// application/vnd.in-toto+json, payload a layout or link object), and
// false for any other envelope (an in-toto statement, which putDSSE
// takes). A payload that is not base64 or not JSON is left to putDSSE,
// which names the field.
func inTotoDSSEPayload(top map[string]json.RawMessage) (json.RawMessage, bool, error) {
	var payloadType, payload string
	if json.Unmarshal(top["payloadType"], &payloadType) != nil || payloadType != intoto.PayloadType {
		return nil, false, nil
	}
	if json.Unmarshal(top["payload"], &payload) != nil {
		return nil, false, nil
	}
	raw, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		if raw, err = base64.URLEncoding.DecodeString(payload); err != nil {
			return nil, false, nil
		}
	}
	var t struct {
		Type string `json:"_type"`
	}
	if json.Unmarshal(raw, &t) != nil || (t.Type != "layout" && t.Type != "link") {
		return nil, false, nil
	}
	return raw, true, nil
}

func (s *Service) putMetablock(ctx context.Context, req PutRequest, signed json.RawMessage) (store.Statement, bool, error) {
	var t struct {
		Type string `json:"_type"`
	}
	if err := json.Unmarshal(signed, &t); err != nil {
		return store.Statement{}, false, inputerr.Wrap(opPut, "signed", ErrMalformed, "must be an in-toto layout or link object", err)
	}
	switch t.Type {
	case "layout":
		if req.Layout > 0 {
			// A layout submitted for a layout is a sublayout: the link of
			// a step of it.
			return s.putLink(ctx, req, signed)
		}
		return s.putLayout(ctx, req, signed)
	case "link":
		return s.putLink(ctx, req, signed)
	}
	return store.Statement{}, false, inputerr.New(opPut, "signed._type", ErrMalformed, fmt.Sprintf("%q, want layout or link", t.Type))
}

// intotoKey turns a registered key into the in-toto key (and key id) that
// in-toto-golang computes for it.
func intotoKey(k store.Key) (intoto.Key, error) {
	pk, err := envelope.DecodeStoredKey(k.Type, k.PublicKey)
	if err != nil {
		return intoto.Key{}, err
	}
	var ik intoto.Key
	if err := ik.LoadKeyReaderDefaults(bytes.NewReader(pk.Encode())); err != nil {
		return intoto.Key{}, fmt.Errorf("in-toto key of %s: %w", k.ID, err)
	}
	return ik, nil
}

// putLayout verifies a layout against its owner's registered keys, each of
// which must have signed it, and appends it.
func (s *Service) putLayout(ctx context.Context, req PutRequest, signed json.RawMessage) (store.Statement, bool, error) {
	if len(req.LayoutKeyIDs) == 0 {
		return store.Statement{}, false, inputerr.New(opLayout, "layout_key_ids", ErrInvalidLayout,
			"name the registered key(s) of the layout's owner that signed it")
	}
	md, err := loadMetadata(req.Data)
	if err != nil {
		return store.Statement{}, false, inputerr.Wrap(opLayout, "", ErrInvalidLayout, "in-toto-golang rejects it", err)
	}
	layout, ok := md.GetPayload().(intoto.Layout)
	if !ok {
		return store.Statement{}, false, inputerr.New(opLayout, "signed._type", ErrInvalidLayout, "not a layout")
	}
	if err := intoto.VerifyLayoutExpiration(layout); err != nil {
		return store.Statement{}, false, inputerr.Wrap(opLayout, "signed.expires", ErrInvalidLayout, "", err)
	}
	// A key is named by its trustd (TUF) id or by an in-toto key id, an
	// alias of it; the log records the primary ids.
	var ids []string
	owners := map[string]store.Key{}
	for _, id := range req.LayoutKeyIDs {
		k, err := keys.Resolve(ctx, s.store, id)
		if errors.Is(err, store.ErrNotFound) {
			return store.Statement{}, false, inputerr.Wrap(opLayout, "layout_key_ids", envelope.ErrUnknownKey,
				id+" is not registered (neither as a key id nor as an in-toto key id)", err)
		}
		if err != nil {
			return store.Statement{}, false, fmt.Errorf("attest: layout key %s: %w", id, err)
		}
		if _, ok := owners[k.ID]; !ok {
			ids = append(ids, k.ID)
		}
		owners[k.ID] = k
	}
	slices.Sort(ids)
	for _, id := range ids {
		k := owners[id]
		ik, err := intotoKey(k)
		if err != nil {
			return store.Statement{}, false, inputerr.Wrap(opLayout, "layout_key_ids", ErrLayoutSignature, id+" cannot sign in-toto metadata", err)
		}
		if err := s.verifyOwnerSignature(ctx, md, k.ID, ik); err != nil {
			return store.Statement{}, false, inputerr.Wrap(opLayout, "signatures", ErrLayoutSignature,
				fmt.Sprintf("no valid signature by registered key %s (in-toto key id %s)", id, ik.KeyID), err)
		}
	}
	out, created, err := s.log.AppendVerified(ctx, store.Statement{
		PayloadType: LayoutPayloadType, PredicateType: LayoutPredicateType,
		Envelope: req.Data, Payload: signed, SignerKeyIDs: ids,
		SignedDigest: metablockDigest(LayoutPayloadType, signed),
	})
	if err != nil {
		return store.Statement{}, false, fmt.Errorf("attest: layout: %w", err)
	}
	return out, created, nil
}

// maxOwnerSignatures bounds the signatures of a layout whose key ids are
// looked up: a layout has one per owner key.
const maxOwnerSignatures = 16

// verifyOwnerSignature checks that md carries a valid signature by the
// registered key keyID (as the in-toto key ik). The signature may name the
// key by the id in-toto-golang computes (ik.KeyID) or by any other id the
// key is registered under (securesystemslib's, an alias), as Python in-toto
// names ECDSA keys.
func (s *Service) verifyOwnerSignature(ctx context.Context, md intoto.Metadata, keyID string, ik intoto.Key) error {
	err := intoto.VerifyLayoutSignatures(md, map[string]intoto.Key{ik.KeyID: ik})
	if err == nil {
		return nil
	}
	for i, sig := range md.Sigs() {
		if i >= maxOwnerSignatures {
			break
		}
		if sig.KeyID == ik.KeyID {
			continue
		}
		if k, rerr := keys.Resolve(ctx, s.store, sig.KeyID); rerr != nil || k.ID != keyID {
			continue
		}
		named := ik
		named.KeyID = sig.KeyID
		if md.VerifySignature(named) == nil {
			return nil
		}
	}
	return err
}

// layout reads the layout at log entry seq: a layout, or a sublayout
// (stored as the link of its parent's step).
func (s *Service) layout(ctx context.Context, seq int64) (intoto.Layout, error) {
	rec, err := s.log.Get(ctx, seq)
	if err != nil {
		return intoto.Layout{}, fmt.Errorf("attest: layout: %w", err)
	}
	if rec.PayloadType != LayoutPayloadType && rec.PayloadType != LinkPayloadType {
		return intoto.Layout{}, inputerr.New(opLayout, "layout", ErrNotLayout, fmt.Sprintf("log entry %d is not an in-toto layout but a %s", seq, rec.PredicateType))
	}
	md, err := loadMetadata(rec.Envelope)
	if err != nil {
		return intoto.Layout{}, fmt.Errorf("attest: stored layout %d: %w", seq, err)
	}
	layout, ok := md.GetPayload().(intoto.Layout)
	switch {
	case !ok && rec.PayloadType == LinkPayloadType:
		return intoto.Layout{}, inputerr.New(opLayout, "layout", ErrNotLayout, fmt.Sprintf("log entry %d is an in-toto link, not a layout or sublayout", seq))
	case !ok:
		return intoto.Layout{}, fmt.Errorf("attest: stored layout %d holds no layout", seq)
	}
	return layout, nil
}

// putLink verifies a link, or a sublayout (a layout that is the link of a
// step, signed by the step's functionary), against the keys its layout
// lists and appends it, recorded under its step. Whether its signer is
// authorised for that step is judged by VerifyLayout, which reports it. A
// sublayout's own links are put with the sublayout's log entry as their
// layout.
func (s *Service) putLink(ctx context.Context, req PutRequest, signed json.RawMessage) (store.Statement, bool, error) {
	if req.Layout <= 0 {
		return store.Statement{}, false, inputerr.New(opLink, "layout", ErrInvalidLayout,
			"name the layout (its log sequence number) this link belongs to")
	}
	layout, err := s.layout(ctx, req.Layout)
	if err != nil {
		return store.Statement{}, false, err
	}
	md, err := loadMetadata(req.Data)
	if err != nil {
		return store.Statement{}, false, inputerr.Wrap(opLink, "", ErrInvalidLayout, "in-toto-golang rejects it", err)
	}
	var names []string
	for _, st := range layout.Steps {
		names = append(names, st.Name)
	}
	stepName := ""
	switch p := md.GetPayload().(type) {
	case intoto.Link:
		stepName = p.Name
		if !slices.Contains(names, stepName) {
			return store.Statement{}, false, inputerr.New(opLink, "signed.name", ErrInvalidLayout,
				fmt.Sprintf("layout %d has no step %q (its steps: %s)", req.Layout, stepName, strings.Join(names, ", ")))
		}
	case intoto.Layout:
		if err := checkSublayout(p); err != nil {
			return store.Statement{}, false, err
		}
	default:
		return store.Statement{}, false, inputerr.New(opLink, "signed._type", ErrInvalidLayout, "not a link or a sublayout")
	}
	keyID := ""
	for _, sig := range md.Sigs() {
		if k, ok := layout.Keys[sig.KeyID]; ok && md.VerifySignature(k) == nil {
			keyID = sig.KeyID
			break
		}
	}
	if keyID == "" {
		return store.Statement{}, false, inputerr.New(opLink, "signatures", ErrLayoutSignature,
			fmt.Sprintf("no valid signature by a key layout %d lists", req.Layout))
	}
	if stepName == "" {
		// A sublayout names no step: it is the link of the one step whose
		// functionary signed it.
		var steps []string
		for _, st := range layout.Steps {
			if slices.Contains(st.PubKeys, keyID) {
				steps = append(steps, st.Name)
			}
		}
		if len(steps) != 1 {
			return store.Statement{}, false, inputerr.New(opLink, "signatures", ErrInvalidLayout,
				fmt.Sprintf("a sublayout is the link of the one step of layout %d its signer %s is a functionary of; it is one of %d (%s)",
					req.Layout, keyID, len(steps), strings.Join(steps, ", ")))
		}
		stepName = steps[0]
	}
	var (
		out     []store.Statement
		created []bool
	)
	err = s.store.Update(ctx, func(ctx context.Context, w store.Writer) error {
		var err error
		out, created, err = s.log.AppendVerifiedIn(ctx, w, []store.Statement{{
			PayloadType: LinkPayloadType, PredicateType: LinkPredicateType,
			Envelope: req.Data, Payload: signed, SignerKeyIDs: []string{keyID},
			SignedDigest: metablockDigest(LinkPayloadType, signed),
		}})
		if err != nil {
			return err
		}
		return w.PutLayoutLink(ctx, store.LayoutLink{LayoutSeq: req.Layout, Step: stepName, Seq: out[0].Seq, KeyID: keyID})
	})
	if err != nil {
		return store.Statement{}, false, fmt.Errorf("attest: link: %w", err)
	}
	return out[0], created[0], nil
}

// MaxLayoutLinks bounds the links VerifyLayout reads for one layout.
const MaxLayoutLinks = 1000

// LayoutCheck is the outcome of one part of a layout verification.
type LayoutCheck struct {
	// Kind is "layout", "step" or "inspection".
	Kind   string
	Name   string
	Passed bool
	// Detail says what was checked, or why it failed.
	Detail string
	// LinkSeqs are the log entries of the links the check used.
	LinkSeqs []int64
}

// LayoutReport is the outcome of VerifyLayout.
type LayoutReport struct {
	Layout  int64
	Product string
	Digest  digest.Digest
	Passed  bool
	Checks  []LayoutCheck
}

// VerifyLayout runs in-toto verification of the final product with the
// given digest against the layout at log entry layoutSeq and the links
// submitted for it, with in-toto-golang: the layout's expiry; per step,
// enough links signed by distinct authorised functionaries (threshold) and
// the step's artifact rules; per inspection, its artifact rules. trustd
// never has the product's bytes and runs no commands, so an inspection is
// checked as having read the final product and changed nothing: its
// materials and products are the product, by productName (default: the
// one product of the layout's last step). Every check is reported; the
// report passes when all do.
func (s *Service) VerifyLayout(ctx context.Context, layoutSeq int64, product digest.Digest, productName string) (LayoutReport, error) {
	layout, err := s.layout(ctx, layoutSeq)
	if err != nil {
		return LayoutReport{}, err
	}
	rep := LayoutReport{Layout: layoutSeq, Digest: product, Passed: true}
	add := func(c LayoutCheck) {
		rep.Checks = append(rep.Checks, c)
		rep.Passed = rep.Passed && c.Passed
	}
	if err := intoto.VerifyLayoutExpiration(layout); err != nil {
		add(LayoutCheck{Kind: "layout", Name: "expires", Detail: err.Error()})
	} else {
		add(LayoutCheck{Kind: "layout", Name: "expires", Passed: true, Detail: "valid until " + layout.Expires})
	}

	links, err := s.store.LayoutLinks(ctx, layoutSeq, MaxLayoutLinks+1)
	if err != nil {
		return LayoutReport{}, fmt.Errorf("attest: links of layout %d: %w", layoutSeq, err)
	}
	if len(links) > MaxLayoutLinks {
		return LayoutReport{}, inputerr.New(opVerify, "layout", ErrInvalidLayout,
			fmt.Sprintf("layout %d has more than %d links; trustd verifies at most that many", layoutSeq, MaxLayoutLinks))
	}
	stepLinks := map[string]map[string]intoto.Metadata{}
	seqs := map[string][]int64{}
	signers := map[string]map[string]int64{}
	for _, l := range links {
		rec, err := s.log.Get(ctx, l.Seq)
		if err != nil {
			return LayoutReport{}, fmt.Errorf("attest: link %d: %w", l.Seq, err)
		}
		md, err := loadMetadata(rec.Envelope)
		if err != nil {
			return LayoutReport{}, fmt.Errorf("attest: stored link %d: %w", l.Seq, err)
		}
		if stepLinks[l.Step] == nil {
			stepLinks[l.Step], signers[l.Step] = map[string]intoto.Metadata{}, map[string]int64{}
		}
		stepLinks[l.Step][l.KeyID] = md
		signers[l.Step][l.KeyID] = l.Seq
		seqs[l.Step] = append(seqs[l.Step], l.Seq)
	}
	roots, intermediates, err := intoto.LoadLayoutCertificates(layout, nil)
	if err != nil {
		return LayoutReport{}, fmt.Errorf("attest: layout %d certificates: %w", layoutSeq, err)
	}

	// Signatures and thresholds, step by step.
	verified := map[string]map[string]intoto.Metadata{}
	good := layout
	good.Steps = nil
	// stepCheck holds the index of each step's check in rep.Checks, never
	// a pointer: appending moves the slice, and a pointer kept across an
	// append writes into a stale copy (which once lost the failure of the
	// first step's artifact rules and reported such a layout verified).
	stepCheck := map[string]int{}
	for _, step := range layout.Steps {
		one := layout
		one.Steps = []intoto.Step{step}
		c := LayoutCheck{Kind: "step", Name: step.Name, LinkSeqs: seqs[step.Name]}
		v, err := intoto.VerifyLinkSignatureThesholds(one, stepLinks, roots, intermediates)
		switch {
		case len(stepLinks[step.Name]) == 0:
			c.Detail = fmt.Sprintf("missing link: no link was submitted for this step (threshold %d)", step.Threshold)
		case err != nil:
			c.Detail = unauthorised(step, signers[step.Name]) + err.Error()
		default:
			c.Detail = fmt.Sprintf("%d of %d required link(s) signed by authorised functionaries", len(v[step.Name]), step.Threshold)
			links, subs := v[step.Name], 0
			for _, md := range links {
				if isSublayout(md) {
					subs++
				}
			}
			if subs > 0 {
				// Sublayouts, resolved as in-toto-golang does, stand for
				// their summary links.
				resolved, err := s.resolveSublayouts(ctx, layout, step, links, signers[step.Name])
				if err != nil {
					c.Detail = "sublayout: " + err.Error()
					break
				}
				links = resolved
				c.Detail += fmt.Sprintf("; %d sublayout(s) verified", subs)
			}
			verified[step.Name] = links
			good.Steps = append(good.Steps, step)
			c.Passed = true
		}
		stepCheck[step.Name] = len(rep.Checks)
		rep.Checks = append(rep.Checks, c)
	}
	// Links of one step must agree on what they saw; a step whose links
	// disagree fails.
	reduced := map[string]intoto.Metadata{}
	agreed := good
	agreed.Steps = nil
	for _, step := range good.Steps {
		one := good
		one.Steps = []intoto.Step{step}
		r, err := intoto.ReduceStepsMetadata(one, verified)
		if err != nil {
			c := &rep.Checks[stepCheck[step.Name]]
			c.Passed, c.Detail = false, "links disagree: "+err.Error()
			continue
		}
		reduced[step.Name] = r[step.Name]
		agreed.Steps = append(agreed.Steps, step)
	}
	// Artifact rules of the steps whose links verified.
	for _, step := range agreed.Steps {
		c := &rep.Checks[stepCheck[step.Name]]
		if err := intoto.VerifyArtifacts([]any{step}, reduced); err != nil {
			c.Passed = false
			c.Detail = "artifact rules: " + err.Error()
		} else {
			c.Detail += "; artifact rules hold"
		}
	}
	for i := range rep.Checks {
		rep.Passed = rep.Passed && rep.Checks[i].Passed
	}

	// Inspections, against the final product.
	if len(layout.Inspect) > 0 {
		if productName == "" {
			productName = finalProductName(layout, reduced)
		}
		rep.Product = productName
		items := map[string]intoto.Metadata{}
		for k, v := range reduced {
			items[k] = v
		}
		artifacts := map[string]intoto.HashObj{productName: {string(product.Algorithm()): product.Hex()}}
		for _, insp := range layout.Inspect {
			items[insp.Name] = &intoto.Metablock{Signed: intoto.Link{
				Type: "link", Name: insp.Name, Materials: artifacts, Products: artifacts,
				ByProducts: map[string]any{}, Environment: map[string]any{},
			}}
		}
		for _, insp := range layout.Inspect {
			c := LayoutCheck{Kind: "inspection", Name: insp.Name}
			switch {
			case productName == "":
				c.Detail = "no product name: give one (the layout's last step has no single product)"
			default:
				if err := intoto.VerifyArtifacts([]any{insp}, items); err != nil {
					c.Detail = fmt.Sprintf("artifact rules for %s (%s): %v", productName, product, err)
				} else {
					c.Passed = true
					c.Detail = fmt.Sprintf("artifact rules hold for %s (%s); command %q not run: trustd never has the bytes", productName, product, strings.Join(insp.Run, " "))
				}
			}
			add(c)
		}
	}
	return rep, nil
}

// unauthorised names the links of a step signed by keys that the step does
// not list among its functionaries.
func unauthorised(step intoto.Step, signers map[string]int64) string {
	var out []string
	for keyID, seq := range signers {
		if !slices.Contains(step.PubKeys, keyID) {
			out = append(out, fmt.Sprintf("link %d is signed by key %s, which is not an authorised functionary of this step; ", seq, keyID))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "")
}

// finalProductName is the one product of the layout's last step, if its
// link verified and it has exactly one.
func finalProductName(layout intoto.Layout, reduced map[string]intoto.Metadata) string {
	if len(layout.Steps) == 0 {
		return ""
	}
	md, ok := reduced[layout.Steps[len(layout.Steps)-1].Name]
	if !ok {
		return ""
	}
	link, ok := md.GetPayload().(intoto.Link)
	if !ok || len(link.Products) != 1 {
		return ""
	}
	for name := range link.Products {
		return name
	}
	return ""
}
