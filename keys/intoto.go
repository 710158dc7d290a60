package keys

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	intoto "github.com/in-toto/in-toto-golang/in_toto"
	"github.com/secure-systems-lab/go-securesystemslib/cjson"

	"github.com/trustd-dev/trustd/envelope"
)

// defaultKeyIDHashAlgorithms is the keyid_hash_algorithms securesystemslib
// and in-toto put into every key they make, and so hash into its id.
var defaultKeyIDHashAlgorithms = []string{"sha256", "sha512"}

// InTotoKeyIDs returns the ids in-toto knows the key pub by, other than its
// TUF key id (pub.ID), which does not hash keyid_hash_algorithms: the id
// in-toto-golang computes for it, and, when data is a securesystemslib JSON
// key (as in-toto-keygen writes one), the id Python securesystemslib
// computes over the key exactly as given (its keyid_hash_algorithms, or
// securesystemslib's default when absent). Layouts and link signatures
// name keys by these ids.
func InTotoKeyIDs(data []byte, pub envelope.PublicKey) ([]string, error) {
	var ik intoto.Key
	if err := ik.LoadKeyReaderDefaults(bytes.NewReader(pub.Encode())); err != nil {
		return nil, fmt.Errorf("in-toto key id of %s: %w", pub.ID, err)
	}
	ids := []string{ik.KeyID}
	if id, ok := sslibKeyID(data); ok {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	return slices.DeleteFunc(ids, func(id string) bool { return id == pub.ID }), nil
}

// sslibKeyID is the securesystemslib key id of a JSON key as given; false
// when data is not one. envelope.ParsePublicKey has checked its fields.
func sslibKeyID(data []byte) (string, bool) {
	var k struct {
		KeyType  string   `json:"keytype"`
		Scheme   string   `json:"scheme"`
		HashAlgs []string `json:"keyid_hash_algorithms"`
		KeyVal   struct {
			Public string `json:"public"`
		} `json:"keyval"`
	}
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) || json.Unmarshal(data, &k) != nil || k.KeyVal.Public == "" {
		return "", false
	}
	if k.HashAlgs == nil {
		k.HashAlgs = defaultKeyIDHashAlgorithms
	}
	canon, err := cjson.EncodeCanonical(map[string]any{
		"keytype": k.KeyType, "scheme": k.Scheme, "keyid_hash_algorithms": k.HashAlgs,
		"keyval": map[string]string{"public": k.KeyVal.Public},
	})
	if err != nil {
		return "", false
	}
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:]), true
}
