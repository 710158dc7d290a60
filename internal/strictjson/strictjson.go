// Package strictjson decodes one JSON object strictly (no unknown fields,
// no trailing data) and says which member is at fault, so every parser of
// a predicate trustd validates refuses extra fields the same way and
// names them in its error.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// Decode decodes data, one JSON value, into v, refusing object members v
// has no field for and anything after the value. On error, field is the
// JSON name (or dotted path, for a mistyped member) of the member at
// fault, "" when the value as a whole is; reason says why in a few words;
// err is the decoder's error.
func Decode(data []byte, v any) (field, reason string, err error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if name, ok := unknownField(err); ok {
			return name, "unknown field", err
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return te.Field, "wrong JSON type (" + te.Value + ")", err
		}
		return "", "not valid JSON for its type", err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", "data after the object", errors.New("trailing data")
	}
	return "", "", nil
}

// unknownField extracts the member name from encoding/json's refusal of an
// unknown field.
func unknownField(err error) (string, bool) {
	msg := err.Error()
	for _, marker := range []string{`unknown field "`, `unknown object member name "`} {
		if _, rest, ok := strings.Cut(msg, marker); ok {
			if name, _, ok := strings.Cut(rest, `"`); ok {
				return name, true
			}
		}
	}
	return "", false
}

// Join prefixes a member name with the path of its parent ("predicate" +
// "extra" = "predicate.extra"); either may be empty.
func Join(parent, field string) string {
	switch {
	case parent == "":
		return field
	case field == "":
		return parent
	}
	return parent + "." + field
}
