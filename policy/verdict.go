package policy

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteText prints v for people: the outcome, then the requirement tree,
// one line per requirement with its reason code and evidence.
func (v Verdict) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: policy %s (%s)\n", strings.ToUpper(string(v.Outcome)), v.Policy, v.PolicyDigest)
	if v.Resource != "" {
		fmt.Fprintf(&b, "resource: %s\n", v.Resource)
	}
	fmt.Fprintf(&b, "digests:  %s\n", strings.Join(v.Digests, " "))
	fmt.Fprintf(&b, "at:       %s\n", v.EvaluatedAt.UTC().Format(time.RFC3339))
	writeResult(&b, v.Result, "")
	_, err := io.WriteString(w, b.String())
	return err
}

func writeResult(b *strings.Builder, r Result, indent string) {
	mark := map[Outcome]string{Pass: "✓", Fail: "✗", Undecided: "?"}[r.Outcome]
	fmt.Fprintf(b, "%s%s %s", indent, mark, r.Kind)
	if r.Reason != "" {
		fmt.Fprintf(b, " [%s]", r.Reason)
	}
	fmt.Fprintf(b, ": %s\n", r.Detail)
	for _, e := range r.Evidence {
		fmt.Fprintf(b, "%s    · %s\n", indent, e)
	}
	for _, c := range r.Children {
		writeResult(b, c, indent+"  ")
	}
}

// WriteJSON prints v as indented JSON, the form pipelines parse.
func (v Verdict) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// Reasons returns the reason codes of the failed or undecided leaves that
// decided the verdict (subtrees that passed are skipped), in tree order,
// without duplicates. A passing verdict has none.
func (v Verdict) Reasons() []Reason {
	var out []Reason
	var walk func(r Result)
	walk = func(r Result) {
		if r.Outcome == Pass {
			return
		}
		if len(r.Children) == 0 && r.Reason != "" {
			for _, x := range out {
				if x == r.Reason {
					return
				}
			}
			out = append(out, r.Reason)
		}
		for _, c := range r.Children {
			walk(c)
		}
	}
	walk(v.Result)
	return out
}
