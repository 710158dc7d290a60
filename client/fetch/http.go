package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// httpReader reads an https location's body and, when the transfer breaks
// before the end, continues it on the same location with a Range request
// from the byte reached, guarded by If-Range (the ETag or Last-Modified of
// the first response) and a Content-Range that must start there and name
// the same total length: a location whose content changed meanwhile
// answers 200 or another range, and the transfer fails rather than splice
// two different files.
type httpReader struct {
	ctx        context.Context
	hc         *http.Client
	url        string
	body       io.ReadCloser
	off        int64
	total      int64 // -1 when the server sent no length
	validator  string
	resumes    int
	maxResumes int
}

func (f *fetcher) openHTTP(ctx context.Context, u string, length int64) (*httpReader, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadLocation, err)
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		return nil, unavailable(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: GET: %s", ErrUnavailable, resp.Status)
	}
	maxResumes := f.opts.MaxResumes
	if maxResumes == 0 {
		maxResumes = DefaultMaxResumes
	}
	r := &httpReader{ctx: ctx, hc: f.hc, url: u, body: resp.Body, total: resp.ContentLength, maxResumes: maxResumes}
	if r.total < 0 && length > 0 {
		r.total = length
	}
	if et := resp.Header.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
		r.validator = et
	} else if lm := resp.Header.Get("Last-Modified"); lm != "" {
		r.validator = lm
	}
	if resp.Header.Get("Accept-Ranges") == "none" {
		r.maxResumes = -1
	}
	return r, nil
}

// unavailable wraps a transport error, keeping a refused dial recognisable.
func unavailable(err error) error {
	if errors.Is(err, ErrForbiddenAddress) || errors.Is(err, ErrBadLocation) || errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

func (r *httpReader) Read(p []byte) (int, error) {
	for {
		n, err := r.body.Read(p)
		r.off += int64(n)
		switch {
		case err == nil:
			return n, nil
		case err == io.EOF && (r.total < 0 || r.off >= r.total):
			return n, io.EOF
		case r.ctx.Err() != nil:
			return n, r.ctx.Err()
		}
		// The transfer broke (a cut connection, a body shorter than its
		// length): continue it from r.off.
		if rerr := r.resume(); rerr != nil {
			return n, fmt.Errorf("%w: transfer broken at byte %d (%v), not resumed: %w", ErrUnavailable, r.off, err, rerr)
		}
		if n > 0 {
			return n, nil
		}
	}
}

func (r *httpReader) resume() error {
	r.body.Close()
	r.body = io.NopCloser(strings.NewReader(""))
	if r.maxResumes < 0 || r.resumes >= r.maxResumes {
		return fmt.Errorf("resumed %d times already", r.resumes)
	}
	if r.total < 0 {
		return errors.New("the server sent no length to resume against")
	}
	r.resumes++
	req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-", r.off))
	if r.validator != "" {
		req.Header.Set("If-Range", r.validator)
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return unavailable(err)
	}
	if resp.StatusCode != http.StatusPartialContent {
		resp.Body.Close()
		return fmt.Errorf("range request answered %s (content changed, or no range support)", resp.Status)
	}
	start, total, err := parseContentRange(resp.Header.Get("Content-Range"))
	if err != nil || start != r.off || total != r.total {
		resp.Body.Close()
		return fmt.Errorf("range request answered Content-Range %q, want bytes %d-…/%d", resp.Header.Get("Content-Range"), r.off, r.total)
	}
	r.body = resp.Body
	return nil
}

// parseContentRange reads "bytes START-END/TOTAL".
func parseContentRange(s string) (start, total int64, err error) {
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, errors.New("not a byte range")
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, errors.New("no total")
	}
	first, _, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, errors.New("no range")
	}
	if start, err = strconv.ParseInt(first, 10, 64); err != nil {
		return 0, 0, err
	}
	if total, err = strconv.ParseInt(tot, 10, 64); err != nil {
		return 0, 0, err
	}
	return start, total, nil
}

func (r *httpReader) Close() error { return r.body.Close() }
