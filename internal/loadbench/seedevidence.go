package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"runtime"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store/postgres"
	"github.com/trustd-dev/trustd/tlog"
)

// The evidence seedEvidence writes: subjects are grouped into releases of
// releaseSize consecutive subjects (the files of one release), and every
// release has one statement of each of seedPredicates naming all its
// files, so each subject is named by len(seedPredicates) log entries.
const (
	releaseSize = 8
	seedKeys    = 16
	// seedChunk is how many statements are signed and copied at a time.
	seedChunk = 20_000
	// testResultType is the opaque (unindexed) predicate of the seed.
	testResultType = "https://example.com/test-result/v1"
)

var seedPredicates = []string{attest.PredicateSLSAProvenanceV1, attest.PredicateSPDX, testResultType}

// evidenceSeed is what seedEvidence made.
type evidenceSeed struct {
	// Statements is the number of log entries written (the revocations
	// included).
	Statements int64
	// RevokedKeys are the key ids revoked, by reason.
	RevokedKeys map[string]string
}

// seedKey is a registered signing key of the seed.
type seedKey struct {
	id     string
	signer envelope.Signer
}

// seedEvidence gives the n seeded subjects realistic evidence: per
// release of releaseSize subjects a SLSA provenance, an SPDX SBOM and a
// test result, each a DSSE envelope signed by one of seedKeys registered
// ed25519 keys, in the log with its Merkle tree nodes and its attestation
// index. The statements are signed in parallel and written with COPY in
// chunks (statements, statement_subjects, statement_signers, attestations,
// log_nodes), as trustd's append would write them; then two of the keys
// revoke themselves, one as compromised and one as superseded, through
// trustd's own log with the revocation validator and indexer, which appends
// on top of the copied tree.
func seedEvidence(ctx context.Context, dbURL string, n int) (evidenceSeed, error) {
	st, err := postgres.Open(ctx, dbURL)
	if err != nil {
		return evidenceSeed{}, fmt.Errorf("seed evidence: %w", err)
	}
	defer st.Close()
	reg := keys.NewRegistry(st)
	ks := make([]seedKey, seedKeys)
	for i := range ks {
		priv, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
		if err != nil {
			return evidenceSeed{}, fmt.Errorf("seed evidence: key: %w", err)
		}
		if _, _, err := reg.Add(ctx, pub.Encode(), fmt.Sprintf("seed-%02d", i)); err != nil {
			return evidenceSeed{}, fmt.Errorf("seed evidence: register key: %w", err)
		}
		s, _, err := envelope.LoadPrivateKey(priv, nil)
		if err != nil {
			return evidenceSeed{}, fmt.Errorf("seed evidence: key: %w", err)
		}
		ks[i] = seedKey{id: pub.ID, signer: s}
	}

	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return evidenceSeed{}, fmt.Errorf("seed evidence: connect: %w", err)
	}
	defer conn.Close(context.Background())
	// Foreign keys are not checked (the rows are consistent by
	// construction) and autovacuum leaves the tables alone while they
	// fill; they are vacuumed and analysed once at the end.
	seeded := []string{"statements", "statement_subjects", "statement_signers", "attestations", "log_nodes"}
	setup := []string{`SET session_replication_role = replica`}
	for _, t := range seeded {
		setup = append(setup, `ALTER TABLE `+t+` SET (autovacuum_enabled = false)`)
	}
	for _, sql := range setup {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return evidenceSeed{}, fmt.Errorf("seed evidence: %s: %w", sql, err)
		}
	}
	releases := (n + releaseSize - 1) / releaseSize
	total := releases * len(seedPredicates)
	// The log's recorded times run from a year ago to a minute ago.
	start := time.Now().UTC().Add(-365 * 24 * time.Hour).Truncate(time.Microsecond)
	step := (365*24*time.Hour - time.Minute) / time.Duration(total)
	tree := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	// The next chunk is signed while PostgreSQL takes the last.
	type chunk struct {
		rows []seedRow
		err  error
	}
	chunks := make(chan chunk, 1)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(chunks)
		for first := 0; first < total; first += seedChunk {
			rows, err := signChunk(sctx, ks, n, first, min(seedChunk, total-first), start, step)
			select {
			case chunks <- chunk{rows, err}:
			case <-sctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	var signWait, copyTime time.Duration
	for {
		t0 := time.Now()
		c, ok := <-chunks
		signWait += time.Since(t0)
		if !ok {
			break
		}
		if c.err != nil {
			return evidenceSeed{}, c.err
		}
		t0 = time.Now()
		if err := copyChunk(ctx, conn, tree, c.rows); err != nil {
			return evidenceSeed{}, err
		}
		copyTime += time.Since(t0)
	}
	logf("seed evidence: %d statements copied in %.1fs, %.1fs more waiting for signatures", total, copyTime.Seconds(), signWait.Seconds())
	teardown := []string{`SET session_replication_role = DEFAULT`}
	for _, t := range seeded {
		teardown = append(teardown, `ALTER TABLE `+t+` RESET (autovacuum_enabled)`)
	}
	for _, sql := range teardown {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return evidenceSeed{}, fmt.Errorf("seed evidence: %s: %w", sql, err)
		}
	}

	// Two keys revoke themselves through trustd's log: a compromised
	// builder (every signature it made is void) and a CI key superseded
	// half a year ago (what the log first saw after that is void).
	revoked := map[string]string{ks[0].id: string(revocation.ReasonCompromised), ks[seedKeys-1].id: string(revocation.ReasonSuperseded)}
	skey, vkey, err := tlog.GenerateLogKey("loadbench-seed")
	if err != nil {
		return evidenceSeed{}, fmt.Errorf("seed evidence: %w", err)
	}
	rev := revocation.New(st, revocation.Config{})
	log, err := statement.New(st, statement.Options{LogKey: skey, LogVerifierKey: vkey, Validators: rev.Validators(), Indexers: rev.Indexers()})
	if err != nil {
		return evidenceSeed{}, fmt.Errorf("seed evidence: %w", err)
	}
	for _, k := range []seedKey{ks[0], ks[seedKeys-1]} {
		p := revocation.Predicate{Target: revocation.Target{Kind: revocation.KindKey, ID: k.id}, Action: revocation.ActionRevoke,
			Reason: revocation.Reason(revoked[k.id]), Effective: time.Now().Add(-time.Minute)}
		if p.Reason == revocation.ReasonSuperseded {
			p.Effective = time.Now().Add(-182 * 24 * time.Hour)
		}
		raw, err := signStatement(ctx, k.signer, p)
		if err != nil {
			return evidenceSeed{}, err
		}
		if _, _, err := log.Submit(ctx, raw); err != nil {
			return evidenceSeed{}, fmt.Errorf("seed evidence: revoke key %s: %w", k.id, err)
		}
	}
	steps := []string{`VACUUM ANALYZE statements`, `VACUUM ANALYZE statement_subjects`, `VACUUM ANALYZE statement_signers`,
		`VACUUM ANALYZE attestations`, `VACUUM ANALYZE log_nodes`, `VACUUM ANALYZE revocations`, `VACUUM ANALYZE keys`}
	t0 := time.Now()
	for _, sql := range steps {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return evidenceSeed{}, fmt.Errorf("seed evidence: %s: %w", sql, err)
		}
	}
	logf("seed evidence: VACUUM ANALYZE in %.1fs", time.Since(t0).Seconds())
	return evidenceSeed{Statements: int64(total) + 2, RevokedKeys: maps.Clone(revoked)}, nil
}

func signStatement(ctx context.Context, s envelope.Signer, p revocation.Predicate) ([]byte, error) {
	stmt, err := revocation.NewStatement(p)
	if err != nil {
		return nil, fmt.Errorf("seed evidence: %w", err)
	}
	env, err := envelope.Sign(ctx, envelope.PayloadTypeInToto, stmt, s)
	if err != nil {
		return nil, fmt.Errorf("seed evidence: %w", err)
	}
	return json.Marshal(env)
}

// seedRow is one log entry of the seed, ready to copy.
type seedRow struct {
	seq        int64
	envelope   []byte
	payload    []byte
	predicate  string
	signer     string
	subjects   []envelope.Subject
	recordedAt time.Time
	index      *attestRow
}

type attestRow struct{ builderID, buildType, sourceRepo, sourceRef, docName, docVersion string }

// signChunk builds and signs the statements first..first+count-1 (0-based;
// log entry seq is one more) in parallel.
func signChunk(ctx context.Context, ks []seedKey, n, first, count int, start time.Time, step time.Duration) ([]seedRow, error) {
	rows := make([]seedRow, count)
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < count; i += workers {
				r, err := seedStatement(ctx, ks, n, first+i, start, step)
				if err != nil {
					errs[w] = err
					return
				}
				rows[i] = r
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return rows, nil
}

// seedStatement is statement i of the seed: predicate i%3 of release i/3.
func seedStatement(ctx context.Context, ks []seedKey, n, i int, start time.Time, step time.Duration) (seedRow, error) {
	release, kind := i/len(seedPredicates), i%len(seedPredicates)
	predType := seedPredicates[kind]
	var subjects []envelope.Subject
	for f := range releaseSize {
		subj := release*releaseSize + f + 1
		if subj > n {
			break
		}
		d, err := digest.Parse(seededDigest(subj))
		if err != nil {
			return seedRow{}, err
		}
		subjects = append(subjects, envelope.Subject{Name: fmt.Sprintf("app-%d/file-%d.tar.gz", release, f), Digests: []digest.Digest{d}})
	}
	var predicate string
	switch kind {
	case 0:
		predicate = fmt.Sprintf(`{"buildDefinition":{"buildType":"https://example.com/buildtypes/make@v1","externalParameters":{"repository":"https://git.example.com/org/app-%d","ref":"refs/tags/v1.%d.0"},"resolvedDependencies":[{"uri":"git+https://git.example.com/org/app-%d@refs/tags/v1.%d.0","digest":{"sha1":"%x"}}]},"runDetails":{"builder":{"id":"https://ci.example.com/builders/%d"},"metadata":{"invocationId":"run-%d"}}}`,
			release, release%100, release, release%100, sha256.Sum224([]byte(fmt.Sprint(release))), release%seedKeys/2, i)
	case 1:
		predicate = fmt.Sprintf(`{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"app-%d","documentNamespace":"https://sbom.example.com/app-%d","packages":[{"name":"app-%d","SPDXID":"SPDXRef-Package","versionInfo":"1.%d.0","downloadLocation":"NOASSERTION"}]}`,
			release, release, release, release%100)
	default:
		predicate = fmt.Sprintf(`{"suite":"integration","passed":%d,"failed":0,"run":"https://ci.example.com/runs/%d"}`, 100+release%50, i)
	}
	payload, err := envelope.NewStatement(predType, json.RawMessage(predicate), subjects...)
	if err != nil {
		return seedRow{}, fmt.Errorf("seed evidence: statement %d: %w", i, err)
	}
	// Builders sign provenance, the others SBOMs and test results.
	k := ks[(release*3+kind)%len(ks)]
	env, err := envelope.Sign(ctx, envelope.PayloadTypeInToto, payload, k.signer)
	if err != nil {
		return seedRow{}, fmt.Errorf("seed evidence: statement %d: %w", i, err)
	}
	raw, err := json.Marshal(env)
	if err != nil {
		return seedRow{}, fmt.Errorf("seed evidence: statement %d: %w", i, err)
	}
	r := seedRow{seq: int64(i) + 1, envelope: raw, payload: payload, predicate: predType, signer: k.id, subjects: subjects,
		recordedAt: start.Add(time.Duration(i) * step).Truncate(time.Microsecond)}
	a, ok, err := attest.Index(predType, json.RawMessage(predicate))
	if err != nil {
		return seedRow{}, fmt.Errorf("seed evidence: statement %d: index: %w", i, err)
	}
	if ok {
		r.index = &attestRow{a.BuilderID, a.BuildType, a.SourceRepository, a.SourceRef, a.DocumentName, a.DocumentVersion}
	}
	return r, nil
}

// copyChunk writes rows with COPY and extends tree (the log's compact
// range) by their leaves, copying the Merkle nodes completed.
func copyChunk(ctx context.Context, conn *pgx.Conn, tree *compact.Range, rows []seedRow) error {
	var stmts, subjects, signers, index, nodes [][]any
	for _, r := range rows {
		sum := sha256.Sum256(r.envelope)
		signersJSON, _ := json.Marshal([]string{r.signer})
		stmts = append(stmts, []any{r.seq, "sha256:" + hex.EncodeToString(sum[:]), envelope.PayloadTypeInToto, r.predicate, r.envelope, r.payload,
			string(signersJSON), r.recordedAt})
		signers = append(signers, []any{r.seq, r.signer})
		for j, s := range r.subjects {
			for _, d := range s.Digests {
				subjects = append(subjects, []any{r.seq, int32(j), s.Name, string(d.Algorithm()), d.Hex()})
			}
		}
		if a := r.index; a != nil {
			index = append(index, []any{r.seq, a.builderID, a.buildType, a.sourceRepo, a.sourceRef, a.docName, a.docVersion, "", ""})
		}
		err := tree.Append(tlog.LeafHash(r.envelope), func(id compact.NodeID, hash []byte) {
			nodes = append(nodes, []any{int32(id.Level), int64(id.Index), hash})
		})
		if err != nil {
			return fmt.Errorf("seed evidence: tree: %w", err)
		}
	}
	for _, c := range []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"statements", []string{"seq", "envelope_digest", "payload_type", "predicate_type", "envelope", "payload", "signer_key_ids", "recorded_at"}, stmts},
		{"statement_subjects", []string{"seq", "subject_index", "name", "algorithm", "value"}, subjects},
		{"statement_signers", []string{"seq", "key_id"}, signers},
		{"attestations", []string{"seq", "builder_id", "build_type", "source_repository", "source_ref", "document_name", "document_version",
			"verifier_id", "verification_result"}, index},
		{"log_nodes", []string{"level", "idx", "hash"}, nodes},
	} {
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
			return fmt.Errorf("seed evidence: copy %d rows into %s: %w", len(c.rows), c.table, err)
		}
	}
	return nil
}
