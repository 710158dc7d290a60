// Package server exposes trustd over gRPC and HTTP: it turns protobuf
// requests into calls on the domain packages and domain errors into gRPC
// statuses, and carries the cross-cutting parts (request ids, logs, metrics,
// deadlines, size limits, health, graceful shutdown). It holds no business
// rules.
package server
