package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"

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
