package envelope

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// envJSON builds envelope JSON from parts; fields are inserted verbatim.
func envJSON(fields ...string) []byte {
	return []byte("{" + strings.Join(fields, ",") + "}")
}

const (
	goodType    = `"payloadType":"application/vnd.in-toto+json"`
	goodPayload = `"payload":"e30="`
	goodSigs    = `"signatures":[{"keyid":"k1","sig":"AAAA"}]`
)

func TestDecode(t *testing.T) {
	env, err := Decode(envJSON(goodType, goodPayload, `"signatures":[{"keyid":"k1","sig":"AAAA"},{"sig":"_-8=","keyid":"k2"}]`), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if env.PayloadType != PayloadTypeInToto || env.Payload != "e30=" || len(env.Signatures) != 2 ||
		env.Signatures[1].KeyID != "k2" || env.Signatures[1].Sig != "_-8=" {
		t.Fatalf("decoded %+v", env)
	}
	if p, err := env.DecodeB64Payload(); err != nil || string(p) != "{}" {
		t.Fatalf("payload %q, %v", p, err)
	}
	// Signed envelopes in testdata, with whitespace and any field order.
	for _, name := range []string{"python-ed25519.dsse.json", "python-all.dsse.json"} {
		if _, err := Decode(readTestdata(t, name), DefaultLimits()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// An envelope made by Sign survives encoding/json and Decode.
	signed := signedBy(t, "ed25519")
	b, err := json.Marshal(signed)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(b, DefaultLimits())
	if err != nil || back.Payload != signed.Payload || back.Signatures[0] != signed.Signatures[0] {
		t.Fatalf("Decode(json.Marshal(Sign(...))) = %+v, %v", back, err)
	}
}

func TestDecodeRejects(t *testing.T) {
	nested := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	manySigs := make([]string, 17)
	for i := range manySigs {
		manySigs[i] = fmt.Sprintf(`{"keyid":"k%d","sig":"AAAA"}`, i)
	}
	big := `"payload":"` + base64.StdEncoding.EncodeToString(make([]byte, DefaultMaxEnvelopeBytes)) + `"`
	tests := []struct {
		name  string
		input []byte
		lim   Limits
		want  error
		msgs  []string
	}{
		{"over the size limit", envJSON(goodType, big, goodSigs), Limits{}, ErrTooLarge, []string{"the limit is 1048576"}},
		{"over a small size limit", envJSON(goodType, goodPayload, goodSigs), Limits{MaxEnvelopeBytes: 50}, ErrTooLarge, []string{"the limit is 50"}},
		{"100 nested arrays in an unknown field", envJSON(goodType, goodPayload, goodSigs, `"x":`+nested(100)), Limits{}, ErrTooDeep, []string{"x[0][0][0][0][0][0][0][0][0]…: nested deeper than 32 levels"}},
		{"100 nested arrays as payloadType", envJSON(`"payloadType":`+nested(100), goodPayload, goodSigs), Limits{}, ErrTooDeep, []string{"payloadType", "nested deeper than 32"}},
		{"nested past a small limit", envJSON(goodType, goodPayload, goodSigs), Limits{MaxJSONDepth: 2}, ErrTooDeep, []string{"signatures[0]: nested deeper than 2"}},
		{"bad base64 payload", envJSON(goodType, `"payload":"not base64!"`, goodSigs), Limits{}, ErrMalformed, []string{"payload: not valid base64"}},
		{"unpadded base64 payload", envJSON(goodType, `"payload":"e30"`, goodSigs), Limits{}, ErrMalformed, []string{"payload: not valid base64"}},
		{"bad base64 sig", envJSON(goodType, goodPayload, `"signatures":[{"keyid":"k","sig":"%%%"}]`), Limits{}, ErrMalformed, []string{"signatures[0].sig: not valid base64"}},
		{"no signatures field", envJSON(goodType, goodPayload), Limits{}, ErrMalformed, []string{"signatures: at least one signature is required"}},
		{"empty signatures", envJSON(goodType, goodPayload, `"signatures":[]`), Limits{}, ErrMalformed, []string{"signatures: at least one"}},
		{"too many signatures", envJSON(goodType, goodPayload, `"signatures":[`+strings.Join(manySigs, ",")+`]`), Limits{}, ErrTooLarge, []string{"signatures: 17 signatures, the limit is 16"}},
		{"empty keyid", envJSON(goodType, goodPayload, `"signatures":[{"keyid":"k","sig":"AAAA"},{"keyid":"","sig":"AAAA"}]`), Limits{}, ErrMalformed, []string{"signatures[1].keyid: required: trustd looks signers up by key id"}},
		{"missing keyid", envJSON(goodType, goodPayload, `"signatures":[{"sig":"AAAA"}]`), Limits{}, ErrMalformed, []string{"signatures[0].keyid: required"}},
		{"keyid with newline", envJSON(goodType, goodPayload, `"signatures":[{"keyid":"a\nb","sig":"AAAA"}]`), Limits{}, ErrMalformed, []string{"signatures[0].keyid: contains the character '\\n'"}},
		{"overlong keyid", envJSON(goodType, goodPayload, `"signatures":[{"keyid":"`+strings.Repeat("a", 257)+`","sig":"AAAA"}]`), Limits{}, ErrMalformed, []string{"257 bytes, the limit is 256"}},
		{"missing sig", envJSON(goodType, goodPayload, `"signatures":[{"keyid":"k"}]`), Limits{}, ErrMalformed, []string{"signatures[0].sig: required"}},
		{"unknown signature field", envJSON(goodType, goodPayload, `"signatures":[{"keyid":"k","sig":"AAAA","cert":"x"}]`), Limits{}, ErrMalformed, []string{"signatures[0].cert: unknown field"}},
		{"signature not an object", envJSON(goodType, goodPayload, `"signatures":["AAAA"]`), Limits{}, ErrMalformed, []string{"signatures[0]: must be an object, not a string"}},
		{"keyid not a string", envJSON(goodType, goodPayload, `"signatures":[{"keyid":1,"sig":"AAAA"}]`), Limits{}, ErrMalformed, []string{"signatures[0].keyid: must be a string, not a number"}},
		{"no payloadType", envJSON(goodPayload, goodSigs), Limits{}, ErrMalformed, []string{"payloadType: required"}},
		{"null payloadType", envJSON(`"payloadType":null`, goodPayload, goodSigs), Limits{}, ErrMalformed, []string{"payloadType: must be a string, not null"}},
		{"no payload", envJSON(goodType, goodSigs), Limits{}, ErrMalformed, []string{"payload: required"}},
		{"payload not a string", envJSON(goodType, `"payload":{}`, goodSigs), Limits{}, ErrMalformed, []string{"payload: must be a base64 string, not an object"}},
		{"signatures not an array", envJSON(goodType, goodPayload, `"signatures":{}`), Limits{}, ErrMalformed, []string{"signatures: must be an array"}},
		{"unknown top-level field", envJSON(goodType, goodPayload, goodSigs, `"payloadUtf8":"{}"`), Limits{}, ErrMalformed, []string{"payloadUtf8: unknown field"}},
		{"field name in another case", envJSON(`"PayloadType":"x"`, goodType, goodPayload, goodSigs), Limits{}, ErrMalformed, []string{"PayloadType: unknown field"}},
		{"duplicate field", envJSON(goodType, goodPayload, goodSigs, `"payloadType":"text/plain"`), Limits{}, ErrMalformed, []string{"payloadType: duplicate key"}},
		{"duplicate field in a signature", envJSON(goodType, goodPayload, `"signatures":[{"keyid":"a","sig":"AAAA","keyid":"b"}]`), Limits{}, ErrMalformed, []string{"signatures[0].keyid: duplicate key"}},
		{"garbage", []byte("garbage"), Limits{}, ErrMalformed, []string{"invalid JSON at offset"}},
		{"empty", nil, Limits{}, ErrMalformed, []string{"empty input"}},
		{"top-level array", []byte(`[1]`), Limits{}, ErrMalformed, []string{"want a JSON object, got an array"}},
		{"trailing data", append(envJSON(goodType, goodPayload, goodSigs), "{}"...), Limits{}, ErrMalformed, []string{"trailing data after the JSON object at offset"}},
		{"trailing garbage", append(envJSON(goodType, goodPayload, goodSigs), " x"...), Limits{}, ErrMalformed, []string{"trailing data"}},
		{"truncated", envJSON(goodType, goodPayload, goodSigs)[:40], Limits{}, ErrMalformed, []string{"unexpected end of input"}},
		{"invalid UTF-8", envJSON(`"payloadType":"a`+"\xff"+`"`, goodPayload, goodSigs), Limits{}, ErrMalformed, []string{"invalid UTF-8 at offset 17"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := Decode(tt.input, tt.lim)
			checkError(t, err, tt.want, append([]string{"envelope: decode"}, tt.msgs...)...)
			checkOneSentinel(t, err)
			if env != nil {
				t.Errorf("returned an envelope with the error: %+v", env)
			}
		})
	}
}

func TestLimitsDefaults(t *testing.T) {
	if got := (Limits{MaxJSONDepth: -1}).withDefaults(); got != DefaultLimits() {
		t.Fatalf("zero and negative limits give %+v, want %+v", got, DefaultLimits())
	}
	custom := Limits{MaxEnvelopeBytes: 10, MaxJSONDepth: 3, MaxSignatures: 2, MaxSubjects: 7}
	if got := custom.withDefaults(); got != custom {
		t.Fatalf("set limits changed to %+v", got)
	}
}
