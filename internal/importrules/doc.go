// Package importrules holds no code: its test enforces the import rules of
// DESIGN.md ("Layout") over `go list -deps`, so the pure packages the
// offline client runs cannot come to depend on the store, the service
// packages or the server without a test failing and naming the path.
package importrules
