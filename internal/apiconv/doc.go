// Package apiconv is the one neutral place for conversions between the
// generated API (proto/trust/v1) and the domain types that the server and
// the client both need (evidence requests and bundles), so the server
// never imports the client and the client never imports the server.
// Conversions of service-side formats live in subpackages
// (feedbackconv), so the client library reaches no service package.
package apiconv
