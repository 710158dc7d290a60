package server

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// FuzzCarriesField: the check for the retired policy document field reads
// any bytes a client sends without panicking, finds field 4 wherever it
// sits among the unknown fields, and never finds it in a request that has
// none.
func FuzzCarriesField(f *testing.F) {
	f.Add([]byte{}, []byte("apiVersion: trustd.dev/policy/v1\n"))
	f.Add(protowire.AppendTag(nil, 4, protowire.BytesType), []byte{})
	f.Add([]byte{0x22, 0xff, 0xff}, []byte("x"))
	f.Add(protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.VarintType), 300), []byte("y"))
	f.Fuzz(func(t *testing.T, raw, doc []byte) {
		_ = carriesField(raw, policyDocumentField)
		var req trustv1.IssueTokenRequest
		if proto.Unmarshal(raw, &req) != nil {
			return
		}
		clean := proto.Clone(&req).(*trustv1.IssueTokenRequest)
		clean.ProtoReflect().SetUnknown(nil)
		if carriesField(clean.ProtoReflect().GetUnknown(), policyDocumentField) {
			t.Fatal("found field 4 in a request without unknown fields")
		}
		withDoc := protowire.AppendBytes(protowire.AppendTag(append([]byte(nil), raw...), 4, protowire.BytesType), doc)
		var got trustv1.IssueTokenRequest
		if err := proto.Unmarshal(withDoc, &got); err != nil {
			t.Fatalf("unmarshal with field 4: %v", err)
		}
		if !carriesField(got.ProtoReflect().GetUnknown(), policyDocumentField) {
			t.Fatalf("field 4 not found in unknown fields %x", got.ProtoReflect().GetUnknown())
		}
	})
}
