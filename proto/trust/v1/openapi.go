package trustv1

import _ "embed"

// OpenAPI is the OpenAPI (v2) document of trustd's HTTP/JSON API,
// generated from these protos by protoc-gen-openapiv2 (buf.gen.yaml) and
// served at /api/openapi.json.
//
//go:embed openapi.swagger.json
var OpenAPI []byte
