// Package apiconv is the one neutral place for conversions between the
// generated API (proto/trust/v1) and the domain types that the server and
// the client both need, so the server never imports the client and the
// client never imports the server.
package apiconv
