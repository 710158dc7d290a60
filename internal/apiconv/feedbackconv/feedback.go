// Package feedbackconv converts feedback export pages between the generated
// API and package feedback's export format, for the server and trustctl;
// apart from package apiconv so that the client library, which converts
// evidence, does not reach the feedback service.
package feedbackconv

import (
	"github.com/trustd-dev/trustd/feedback"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// FeedbackExportToProto converts an export page to its wire form.
func FeedbackExportToProto(doc feedback.Export) *trustv1.ExportFeedbackResponse {
	out := &trustv1.ExportFeedbackResponse{Origin: doc.Origin, VerifierKey: doc.VerifierKey, Checkpoint: []byte(doc.Checkpoint), NextSinceSeq: uint64(doc.Next)}
	for _, e := range doc.Entries {
		pe := &trustv1.FeedbackExportEntry{Seq: uint64(e.Seq), PredicateType: e.PredicateType, Envelope: e.Envelope, InclusionProof: e.InclusionProof}
		for _, k := range e.Keys {
			pe.Keys = append(pe.Keys, &trustv1.ExportedKey{Id: k.ID, PublicKey: k.PublicKey})
		}
		out.Entries = append(out.Entries, pe)
	}
	return out
}

// FeedbackExportFromProto converts entries received on the wire (an export page or
// an import request), with the exporting log's verifier key and checkpoint,
// to an export document.
func FeedbackExportFromProto(origin, verifierKey string, checkpoint []byte, entries []*trustv1.FeedbackExportEntry) feedback.Export {
	doc := feedback.Export{Format: feedback.ExportFormat, Origin: origin, VerifierKey: verifierKey, Checkpoint: string(checkpoint)}
	for _, pe := range entries {
		e := feedback.ExportEntry{Seq: int64(min(pe.GetSeq(), 1<<62)), PredicateType: pe.GetPredicateType(), Envelope: pe.GetEnvelope(),
			InclusionProof: pe.GetInclusionProof()}
		for _, k := range pe.GetKeys() {
			e.Keys = append(e.Keys, feedback.ExportedKey{ID: k.GetId(), PublicKey: k.GetPublicKey()})
		}
		doc.Entries = append(doc.Entries, e)
	}
	return doc
}
