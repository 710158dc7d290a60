package attest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/inputerr"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
)

// Predicate types whose predicates trustd indexes. Every other predicate
// type is stored opaquely.
const (
	PredicateSLSAProvenanceV02 = "https://slsa.dev/provenance/v0.2"
	PredicateSLSAProvenanceV1  = "https://slsa.dev/provenance/v1"
	PredicateSPDX              = "https://spdx.dev/Document"
	PredicateCycloneDX         = "https://cyclonedx.org/bom"
	PredicateSLSAVSAV02        = "https://slsa.dev/verification_summary/v0.2"
	PredicateSLSAVSAV1         = "https://slsa.dev/verification_summary/v1"
)

// indexers maps each indexed predicate type to the function that reads its
// index fields. Versioned SBOM predicate types (…/Document/v2.3,
// …/bom/v1.5) are accepted as well; see indexerFor.
var indexers = map[string]func(json.RawMessage) (store.Attestation, error){
	PredicateSLSAProvenanceV02: provenanceV02,
	PredicateSLSAProvenanceV1:  provenanceV1,
	PredicateSPDX:              spdx,
	PredicateCycloneDX:         cyclonedx,
	PredicateSLSAVSAV02:        vsa,
	PredicateSLSAVSAV1:         vsa,
}

// sbomVersions are the versioned spellings of the SBOM predicate types
// that producers (syft, cosign, Trivy) use.
var sbomVersions = map[string][]string{
	PredicateSPDX:      {"v2.2", "v2.3"},
	PredicateCycloneDX: {"v1.4", "v1.5", "v1.6"},
}

// IndexedPredicateTypes returns every predicate type trustd indexes.
func IndexedPredicateTypes() []string {
	var out []string
	for t := range indexers {
		out = append(out, t)
		for _, v := range sbomVersions[t] {
			out = append(out, t+"/"+v)
		}
	}
	return out
}

func indexerFor(predicateType string) func(json.RawMessage) (store.Attestation, error) {
	if f, ok := indexers[predicateType]; ok {
		return f
	}
	for base, versions := range sbomVersions {
		for _, v := range versions {
			if predicateType == base+"/"+v {
				return indexers[base]
			}
		}
	}
	return nil
}

// Index reads the index fields of a predicate of the given type. ok is
// false for predicate types trustd stores opaquely. Fields the predicate
// lacks index as empty (producers fill SLSA's required fields unevenly,
// and the statement is kept whole either way); a field of the wrong JSON
// type, or a VSA result other than PASSED or FAILED, is an error matching
// ErrInvalidPredicate that names the field.
func Index(predicateType string, predicate json.RawMessage) (a store.Attestation, ok bool, err error) {
	f := indexerFor(predicateType)
	if f == nil {
		return store.Attestation{}, false, nil
	}
	a, err = f(predicate)
	if err != nil {
		return store.Attestation{}, true, err
	}
	return a, true, nil
}

// Validators returns statement validators for the indexed predicate
// types: a predicate whose index fields are mistyped (see Index) or that is
// larger
// than maxPredicate bytes (0: no bound beyond the envelope's) is rejected
// before it is stored.
func Validators(maxPredicate int) map[string]statement.Validator {
	v := func(_ context.Context, st envelope.Statement, _ []string) error {
		if err := checkPredicateSize(st.Predicate, maxPredicate); err != nil {
			return err
		}
		a, _, err := Index(st.PredicateType, st.Predicate)
		if err != nil {
			return err
		}
		return checkCallerIndex(a)
	}
	out := make(map[string]statement.Validator)
	for _, t := range IndexedPredicateTypes() {
		out[t] = v
	}
	return out
}

// checkCallerIndex refuses what only trustd may say in an attestation a
// caller sends: a VSA whose verifier is trustd (its tokens are VSAs by
// trustd's verifier id, signed by the token key and never logged).
func checkCallerIndex(a store.Attestation) error {
	if recordtype.InNamespace(a.VerifierID) {
		return inputerr.New(opPredicate, "predicate.verifier.id", recordtype.ErrReserved,
			fmt.Sprintf("%q is trustd's own verifier; trustd's verification summaries are its tokens, which it signs itself", a.VerifierID))
	}
	return nil
}

func checkPredicateSize(predicate json.RawMessage, max int) error {
	if max > 0 && len(predicate) > max {
		return inputerr.New(opPredicate, "predicate", ErrTooLarge,
			fmt.Sprintf("%d bytes, over trustd --max-attestation-bytes=%d", len(predicate), max))
	}
	return nil
}

// Indexers returns the statement indexers that fill the attestation index
// for every indexed predicate type, in the transaction that appends the
// entry, whichever path appended it (a DSSE submission or a Sigstore
// bundle).
func Indexers() map[string]statement.Indexer {
	ix := func(ctx context.Context, w store.Writer, entry store.Statement) error {
		predicate, err := predicateOf(entry.Payload)
		if err != nil {
			return fmt.Errorf("attest: index entry %d: payload: %w", entry.Seq, err)
		}
		a, ok, err := Index(entry.PredicateType, predicate)
		if err != nil || !ok {
			return err
		}
		a.Seq = entry.Seq
		return w.PutAttestation(ctx, a)
	}
	out := make(map[string]statement.Indexer)
	for _, t := range IndexedPredicateTypes() {
		out[t] = ix
	}
	return out
}

// field reads optional string fields of a predicate: a missing or null
// field is empty, any other non-string is an error naming its path.
type fields struct {
	err error
}

func (f *fields) str(raw json.RawMessage, path string) string {
	if f.err != nil || len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		f.err = inputerr.New(opPredicate, path, ErrInvalidPredicate, "must be a string")
		return ""
	}
	return s
}

// object decodes raw (an object or absent) into v, naming path on error.
func (f *fields) object(raw json.RawMessage, path string, v any) {
	if f.err != nil || len(raw) == 0 || string(raw) == "null" {
		return
	}
	if err := json.Unmarshal(raw, v); err != nil {
		f.err = inputerr.Wrap(opPredicate, path, ErrInvalidPredicate, "must be an object", err)
	}
}

// splitSource splits a SLSA source URI "git+https://host/repo@refs/heads/main"
// into the repository and the ref.
func splitSource(uri string) (repo, ref string) {
	uri = strings.TrimPrefix(uri, "git+")
	if i := strings.LastIndex(uri, "@"); i > strings.Index(uri, "://")+2 && strings.Contains(uri, "://") {
		return uri[:i], uri[i+1:]
	}
	return uri, ""
}

// provenanceV02 indexes SLSA provenance v0.2: builder.id, buildType, and
// invocation.configSource.uri as repository@ref.
func provenanceV02(raw json.RawMessage) (store.Attestation, error) {
	var p struct {
		Builder    json.RawMessage `json:"builder"`
		BuildType  json.RawMessage `json:"buildType"`
		Invocation json.RawMessage `json:"invocation"`
	}
	var f fields
	f.object(raw, "predicate", &p)
	var b struct {
		ID json.RawMessage `json:"id"`
	}
	f.object(p.Builder, "predicate.builder", &b)
	var inv struct {
		ConfigSource json.RawMessage `json:"configSource"`
	}
	f.object(p.Invocation, "predicate.invocation", &inv)
	var cs struct {
		URI        json.RawMessage `json:"uri"`
		EntryPoint json.RawMessage `json:"entryPoint"`
	}
	f.object(inv.ConfigSource, "predicate.invocation.configSource", &cs)

	a := store.Attestation{
		BuilderID: f.str(b.ID, "predicate.builder.id"),
		BuildType: f.str(p.BuildType, "predicate.buildType"),
	}
	a.SourceRepository, a.SourceRef = splitSource(f.str(cs.URI, "predicate.invocation.configSource.uri"))
	return a, f.err
}

// provenanceV1 indexes SLSA provenance v1: runDetails.builder.id,
// buildDefinition.buildType, and the source from
// externalParameters (GitHub Actions' workflow.repository/ref, or a
// "source" URI), else the first git resolved dependency.
func provenanceV1(raw json.RawMessage) (store.Attestation, error) {
	var p struct {
		BuildDefinition json.RawMessage `json:"buildDefinition"`
		RunDetails      json.RawMessage `json:"runDetails"`
	}
	var f fields
	f.object(raw, "predicate", &p)
	var bd struct {
		BuildType            json.RawMessage   `json:"buildType"`
		ExternalParameters   json.RawMessage   `json:"externalParameters"`
		ResolvedDependencies []json.RawMessage `json:"resolvedDependencies"`
	}
	f.object(p.BuildDefinition, "predicate.buildDefinition", &bd)
	var rd struct {
		Builder json.RawMessage `json:"builder"`
	}
	f.object(p.RunDetails, "predicate.runDetails", &rd)
	var b struct {
		ID json.RawMessage `json:"id"`
	}
	f.object(rd.Builder, "predicate.runDetails.builder", &b)
	a := store.Attestation{
		BuilderID: f.str(b.ID, "predicate.runDetails.builder.id"),
		BuildType: f.str(bd.BuildType, "predicate.buildDefinition.buildType"),
	}
	var ext struct {
		Workflow json.RawMessage `json:"workflow"`
		Source   json.RawMessage `json:"source"`
	}
	f.object(bd.ExternalParameters, "predicate.buildDefinition.externalParameters", &ext)
	var wf struct {
		Repository json.RawMessage `json:"repository"`
		Ref        json.RawMessage `json:"ref"`
	}
	if len(ext.Workflow) > 0 && ext.Workflow[0] == '{' {
		f.object(ext.Workflow, "predicate.buildDefinition.externalParameters.workflow", &wf)
	}
	switch {
	case len(wf.Repository) > 0:
		a.SourceRepository = f.str(wf.Repository, "predicate.buildDefinition.externalParameters.workflow.repository")
		a.SourceRef = f.str(wf.Ref, "predicate.buildDefinition.externalParameters.workflow.ref")
	case len(ext.Source) > 0 && ext.Source[0] == '"':
		a.SourceRepository, a.SourceRef = splitSource(f.str(ext.Source, "predicate.buildDefinition.externalParameters.source"))
	default:
		for _, dep := range bd.ResolvedDependencies {
			var d struct {
				URI string `json:"uri"`
			}
			if json.Unmarshal(dep, &d) == nil && strings.HasPrefix(d.URI, "git+") {
				a.SourceRepository, a.SourceRef = splitSource(d.URI)
				break
			}
		}
	}
	return a, f.err
}

// spdx indexes an SPDX 2.x document: name and spdxVersion.
func spdx(raw json.RawMessage) (store.Attestation, error) {
	var p struct {
		Name        json.RawMessage `json:"name"`
		SPDXVersion json.RawMessage `json:"spdxVersion"`
	}
	var f fields
	f.object(raw, "predicate", &p)
	a := store.Attestation{
		DocumentName:    f.str(p.Name, "predicate.name"),
		DocumentVersion: f.str(p.SPDXVersion, "predicate.spdxVersion"),
	}
	return a, f.err
}

// cyclonedx indexes a CycloneDX BOM: the name and version of
// metadata.component (the thing the BOM describes), else its serialNumber
// and specVersion.
func cyclonedx(raw json.RawMessage) (store.Attestation, error) {
	var p struct {
		BOMFormat    json.RawMessage `json:"bomFormat"`
		SpecVersion  json.RawMessage `json:"specVersion"`
		SerialNumber json.RawMessage `json:"serialNumber"`
		Metadata     json.RawMessage `json:"metadata"`
	}
	var f fields
	f.object(raw, "predicate", &p)
	if format := f.str(p.BOMFormat, "predicate.bomFormat"); f.err == nil && format != "CycloneDX" {
		f.err = inputerr.New(opPredicate, "predicate.bomFormat", ErrInvalidPredicate, fmt.Sprintf("%q, want \"CycloneDX\"", format))
	}
	var md struct {
		Component json.RawMessage `json:"component"`
	}
	f.object(p.Metadata, "predicate.metadata", &md)
	var c struct {
		Name    json.RawMessage `json:"name"`
		Version json.RawMessage `json:"version"`
	}
	f.object(md.Component, "predicate.metadata.component", &c)
	a := store.Attestation{
		DocumentName:    f.str(c.Name, "predicate.metadata.component.name"),
		DocumentVersion: f.str(c.Version, "predicate.metadata.component.version"),
	}
	if a.DocumentName == "" {
		a.DocumentName = f.str(p.SerialNumber, "predicate.serialNumber")
	}
	if a.DocumentVersion == "" {
		a.DocumentVersion = f.str(p.SpecVersion, "predicate.specVersion")
	}
	return a, f.err
}

// vsa indexes a SLSA verification summary (v0.2 and v1): verifier.id,
// verificationResult (PASSED or FAILED when given), and resourceUri as the
// repository.
func vsa(raw json.RawMessage) (store.Attestation, error) {
	var p struct {
		Verifier           json.RawMessage `json:"verifier"`
		VerificationResult json.RawMessage `json:"verificationResult"`
		ResourceURI        json.RawMessage `json:"resourceUri"`
	}
	var f fields
	f.object(raw, "predicate", &p)
	var v struct {
		ID json.RawMessage `json:"id"`
	}
	f.object(p.Verifier, "predicate.verifier", &v)
	a := store.Attestation{
		VerifierID:         f.str(v.ID, "predicate.verifier.id"),
		VerificationResult: f.str(p.VerificationResult, "predicate.verificationResult"),
		SourceRepository:   f.str(p.ResourceURI, "predicate.resourceUri"),
	}
	if f.err == nil && a.VerificationResult != "" && a.VerificationResult != "PASSED" && a.VerificationResult != "FAILED" {
		f.err = inputerr.New(opPredicate, "predicate.verificationResult", ErrInvalidPredicate,
			fmt.Sprintf("%q, want PASSED or FAILED", a.VerificationResult))
	}
	return a, f.err
}
