package server

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trustd-dev/trustd/pgp"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

func certToProto(c *pgp.Certificate) *trustv1.PGPCertificate {
	out := &trustv1.PGPCertificate{
		Version:     int32(c.Version),
		UserIds:     c.UserIDs,
		Primary:     keyInfoToProto(c.KeyInfo),
		Certificate: c.Encode(),
	}
	for _, sk := range c.Subkeys {
		out.Subkeys = append(out.Subkeys, keyInfoToProto(sk))
	}
	return out
}

func keyInfoToProto(k pgp.KeyInfo) *trustv1.PGPKeyInfo {
	return &trustv1.PGPKeyInfo{
		Fingerprint:  k.Fingerprint,
		KeyId:        fmt.Sprintf("%016x", k.KeyID),
		Algorithm:    k.Algorithm,
		Created:      optTime(k.Created),
		Expires:      optTime(k.Expires),
		Capabilities: k.Capabilities.String(),
		Revoked:      len(k.Revocations) > 0,
	}
}

func pgpStatusToProto(s pgp.Status) *trustv1.PGPKeyStatus {
	out := &trustv1.PGPKeyStatus{
		State:        string(s.State),
		Since:        optTime(s.Since),
		SupersededBy: s.SupersededBy,
		Summary:      s.String(),
	}
	if r := s.Revocation; r != nil {
		out.RevocationReason, out.RevocationText, out.Hard = r.Reason.String(), r.Text, r.Hard
	}
	return out
}

// optTime converts t, leaving the zero time unset.
func optTime(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
