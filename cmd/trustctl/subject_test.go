package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/trustd-dev/trustd/client"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/recordtype"
)

// TestSubjectSkipsForgedRecords: a subject whose evidence holds records of
// trustd's TUF metadata and OpenPGP manifest types that trustd did not
// write (forged rows of an old database, stored as in-toto statements) is
// printed, with those rows marked, rather than failing on them: they are
// not fetched as TUF metadata or read as manifests.
func TestSubjectSkipsForgedRecords(t *testing.T) {
	now := timestamppb.Now()
	s := &trustv1.Subject{Id: 1, FirstSeen: now, Evidence: []*trustv1.Evidence{
		{StatementSeq: 7, PayloadType: recordtype.PayloadTypeInToto, PredicateType: recordtype.TUFMetadata, SignerKeyIds: []string{"stranger"}, Digest: "sha256:ab", RecordedAt: now},
		{StatementSeq: 8, PayloadType: recordtype.PayloadTypeInToto, PredicateType: recordtype.PGPManifest, SignerKeyIds: []string{"stranger"}, Digest: "sha256:ab", RecordedAt: now},
	}}
	// A client with no connections: reaching the server would panic.
	c := &client.Client{}
	labels, err := tufEvidenceLabels(context.Background(), c, s)
	if err != nil || len(labels) != 0 {
		t.Fatalf("tufEvidenceLabels = %v, %v; want nothing", labels, err)
	}
	names, err := manifestNames(context.Background(), c, s)
	if err != nil || len(names) != 0 {
		t.Fatalf("manifestNames = %v, %v; want nothing", names, err)
	}
	var out bytes.Buffer
	printSubject(&out, s, names, labels)
	if strings.Count(out.String(), "not appended by the path its type requires: ignored") != 2 {
		t.Errorf("output does not mark the forged rows:\n%s", out.String())
	}
}
