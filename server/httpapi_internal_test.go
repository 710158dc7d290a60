package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// TestAPIPeerOnlyFromGateway: the chain takes a caller from an HTTP/JSON
// handle only on the gateway's in-memory connection. A network peer that
// presents a live handle (as if it had seen one) keeps its own identity,
// and a gateway call without a live handle has none.
func TestAPIPeerOnlyFromGateway(t *testing.T) {
	s := newBareServer(t, 0)
	httpCaller := &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 443},
		AuthInfo: credentials.TLSInfo{State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{{Raw: []byte("operator")}}}}}}
	live := &apiCall{handle: randomHandle(), peer: httpCaller}
	s.apiCalls.Store(live.handle, live)
	network := &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(198, 51, 100, 1), Port: 5000}}
	gateway := &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, AuthInfo: apiAuthInfo{}}
	tests := []struct {
		name    string
		peer    *peer.Peer
		handles []string
		want    *peer.Peer // nil: a peer without identity
		via     bool
	}{
		{"network peer with a live handle", network, []string{live.handle}, network, false},
		{"TLS peer with a live handle", &peer.Peer{Addr: network.Addr, AuthInfo: credentials.TLSInfo{}}, []string{live.handle}, nil, false},
		{"gateway with a live handle", gateway, []string{live.handle}, httpCaller, true},
		{"gateway with an unknown handle", gateway, []string{randomHandle()}, nil, true},
		{"gateway with two handles", gateway, []string{live.handle, live.handle}, nil, true},
		{"gateway without a handle", gateway, nil, nil, true},
	}
	for _, tc := range tests {
		ctx := peer.NewContext(context.Background(), tc.peer)
		md := metadata.MD{}
		for _, h := range tc.handles {
			md.Append(apiHandleKey, h)
		}
		ctx = metadata.NewIncomingContext(ctx, md)
		got, via := s.apiPeer(ctx)
		p, _ := peer.FromContext(got)
		if via != tc.via {
			t.Errorf("%s: via HTTP %v, want %v", tc.name, via, tc.via)
		}
		switch {
		case tc.want != nil && p != tc.want:
			t.Errorf("%s: peer %v, want %v", tc.name, p, tc.want)
		case tc.want == nil && tc.via && (p.AuthInfo != nil || p.Addr != gateway.Addr):
			t.Errorf("%s: peer %v, want the gateway's address without identity", tc.name, p)
		case tc.want == nil && !tc.via && p != tc.peer:
			t.Errorf("%s: peer %v changed, want the connection's own", tc.name, p)
		}
		if tc.name == "network peer with a live handle" && s.authz.identify(got).Role != RoleAnonymous {
			t.Errorf("%s: identified as %v", tc.name, s.authz.identify(got))
		}
	}
}

// TestAPICredsMarkOnlyGatewayConns: only connections of the gateway's
// listener skip the handshake and are marked as the gateway's.
func TestAPICredsMarkOnlyGatewayConns(t *testing.T) {
	c := apiCreds{insecure.NewCredentials()}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, info, err := c.ServerHandshake(a); err != nil {
		t.Fatal(err)
	} else if _, ok := info.(apiAuthInfo); ok {
		t.Error("a network connection was marked as the gateway's")
	}
	if _, info, err := c.ServerHandshake(&apiConn{b}); err != nil {
		t.Fatal(err)
	} else if _, ok := info.(apiAuthInfo); !ok {
		t.Errorf("a gateway connection got %T, want apiAuthInfo", info)
	}
}

// TestAPIShedAndSlowBody: a JSON call whose class is full is shed before
// its body is read, as the gRPC tap sheds; a body that does not arrive
// within the request timeout is refused with 408.
func TestAPIShedAndSlowBody(t *testing.T) {
	s := newBareServer(t, 300*time.Millisecond)
	s.limits = newLimiter(Limits{MaxInFlightReads: 1}, prometheus.NewRegistry(), nil)
	hs := httptest.NewServer(s.HTTPHandler())
	defer hs.Close()
	t.Cleanup(s.grpc.Stop)
	post := func(body io.Reader) (*http.Response, string) {
		t.Helper()
		resp, err := http.Post(hs.URL+APIPrefix+"/trust.v1.KeyService/ListKeys", "application/json", body)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	// The one read slot taken and one call waiting for it: the next read
	// is shed as it arrives.
	s.limits.reads <- struct{}{}
	s.limits.waitingReads.Add(1)
	resp, body := post(strings.NewReader(`{}`))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(body, `"code":8`) || !strings.Contains(body, "--max-inflight-reads") {
		t.Errorf("read with the read class full: %d %s (Retry-After %q), want 429 naming --max-inflight-reads", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	<-s.limits.reads
	s.limits.waitingReads.Add(-1)
	if resp, body := post(strings.NewReader(`{}`)); resp.StatusCode != http.StatusOK {
		t.Errorf("read with a free slot: %d %s", resp.StatusCode, body)
	}

	// A body that stops after its first byte.
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() { _, _ = pw.Write([]byte("{")) }()
	resp, body = post(pr)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(body, "--request-timeout") {
		t.Errorf("stalled body: %d %s, want 408 naming --request-timeout", resp.StatusCode, body)
	}
}
