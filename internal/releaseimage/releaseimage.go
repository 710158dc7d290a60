// Package releaseimage builds trustd's release container image from
// nothing: one layer holding the static trustd binary, the passwd and group
// entries of its non-root user and its state directory, on an empty base.
// No container daemon is needed and no base image is downloaded, and the
// same inputs give the same image digest (fixed timestamps and owners,
// sorted entries), so a release can be rebuilt and compared.
package releaseimage

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's fixed layout: where the binary, the state and the user are.
const (
	// UID and GID run trustd: an unprivileged id with no login (the id
	// distroless images use for "nonroot").
	UID = 65532
	GID = 65532
	// UserName names UID in /etc/passwd and GID in /etc/group.
	UserName = "trustd"
	// BinaryPath is the entrypoint.
	BinaryPath = "/trustd"
	// StateDir is trustd's --data-dir in the image (SQLite, generated
	// keys): the only directory the user may write besides /tmp.
	StateDir = "/var/lib/trustd"
	// GRPCPort and HTTPPort are trustd's default ports, exposed.
	GRPCPort = 7400
	HTTPPort = 7401
)

// Options are the inputs of an image; equal options give equal digests.
type Options struct {
	// Binary is the path of a statically linked trustd (CGO_ENABLED=0):
	// the image has no libc.
	Binary string
	// CABundle, if set, is a PEM file installed as
	// /etc/ssl/certs/ca-certificates.crt, for trustd's outgoing https
	// (witnesses); empty leaves it out.
	CABundle string
	// Created is every timestamp in the image (files, config, history):
	// the commit time (SOURCE_DATE_EPOCH) keeps rebuilds identical. Zero
	// is the Unix epoch.
	Created time.Time
	// Version and Revision label the image (org.opencontainers.image.*).
	Version  string
	Revision string
	// Source is the repository URL label.
	Source string
	// Platform is the binary's OS and architecture.
	OS, Arch string
}

// file is one entry of the layer.
type file struct {
	name string // no leading slash
	mode int64
	uid  int
	dir  bool
	data []byte
}

// Build assembles the image. It reads the binary and the CA bundle into
// memory once (trustd's binary is tens of MiB).
func Build(o Options) (v1.Image, error) {
	if o.Binary == "" {
		return nil, errors.New("releaseimage: Binary: the trustd binary is required")
	}
	if o.OS == "" || o.Arch == "" {
		return nil, errors.New("releaseimage: OS and Arch: the platform is required")
	}
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, fmt.Errorf("releaseimage: binary: %w", err)
	}
	created := o.Created.UTC()
	if o.Created.IsZero() {
		created = time.Unix(0, 0).UTC()
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:trustd:%s:/sbin/nologin\n", UserName, UID, GID, StateDir)
	group := fmt.Sprintf("root:x:0:\n%s:x:%d:\n", UserName, GID)
	files := []file{
		{name: "etc", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
	}
	if o.CABundle != "" {
		ca, err := os.ReadFile(o.CABundle)
		if err != nil {
			return nil, fmt.Errorf("releaseimage: CA bundle: %w", err)
		}
		files = append(files,
			file{name: "etc/ssl", mode: 0o755, dir: true},
			file{name: "etc/ssl/certs", mode: 0o755, dir: true},
			file{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: ca})
	}
	files = append(files,
		file{name: "tmp", mode: 0o1777, dir: true},
		file{name: BinaryPath[1:], mode: 0o755, data: bin},
		file{name: "var", mode: 0o755, dir: true},
		file{name: "var/lib", mode: 0o755, dir: true},
		// The state directory alone belongs to the user: the binary and
		// /etc stay root's, so a compromised trustd cannot replace them.
		file{name: StateDir[1:], mode: 0o700, uid: UID, dir: true},
	)
	layerTar, err := tarFiles(files, created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("releaseimage: layer: %w", err)
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: "trustd internal/cmd/mkimage",
			Comment:   "static trustd, its user and state directory",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("releaseimage: append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("releaseimage: config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = o.OS, o.Arch
	cf.Created = v1.Time{Time: created}
	cf.Author = ""
	cf.Config = Config(o)
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("releaseimage: config: %w", err)
	}
	return img, nil
}

// Config is the runtime configuration: trustd as the non-root user,
// listening on every address of the container's own network namespace
// (its loopback is unreachable from outside it), state in StateDir. Plain
// text beyond loopback is still refused at start: give --tls-cert and
// --tls-key, or --insecure-plaintext behind a TLS-terminating proxy.
func Config(o Options) v1.Config {
	labels := map[string]string{
		"org.opencontainers.image.title":       "trustd",
		"org.opencontainers.image.description": "trustd: a supply-chain trust and attestation service keyed by content digest",
		"org.opencontainers.image.created":     o.createdRFC3339(),
	}
	for k, v := range map[string]string{
		"org.opencontainers.image.version":  o.Version,
		"org.opencontainers.image.revision": o.Revision,
		"org.opencontainers.image.source":   o.Source,
	} {
		if v != "" {
			labels[k] = v
		}
	}
	return v1.Config{
		User:       strconv.Itoa(UID) + ":" + strconv.Itoa(GID),
		Entrypoint: []string{BinaryPath},
		WorkingDir: StateDir,
		Env: []string{
			"TRUSTD_DATA_DIR=" + StateDir,
			"TRUSTD_GRPC_ADDR=0.0.0.0:" + strconv.Itoa(GRPCPort),
			"TRUSTD_HTTP_ADDR=0.0.0.0:" + strconv.Itoa(HTTPPort),
		},
		ExposedPorts: map[string]struct{}{
			strconv.Itoa(GRPCPort) + "/tcp": {},
			strconv.Itoa(HTTPPort) + "/tcp": {},
		},
		Volumes:    map[string]struct{}{StateDir: {}},
		Labels:     labels,
		StopSignal: "SIGTERM",
	}
}

func (o Options) createdRFC3339() string {
	if o.Created.IsZero() {
		return time.Unix(0, 0).UTC().Format(time.RFC3339)
	}
	return o.Created.UTC().Format(time.RFC3339)
}

// tarFiles writes the entries in order (the caller lists parents first)
// with one timestamp, numeric owners and no user or group names.
func tarFiles(files []file, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name:    f.name,
			Mode:    f.mode,
			Uid:     f.uid,
			Gid:     f.uid, // the user's files are its group's, root's root's
			ModTime: mtime,
			Format:  tar.FormatPAX,
		}
		if f.dir {
			h.Typeflag, h.Name = tar.TypeDir, f.name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("releaseimage: tar %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("releaseimage: tar %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("releaseimage: tar: %w", err)
	}
	return buf.Bytes(), nil
}
