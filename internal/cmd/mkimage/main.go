// Command mkimage builds trustd's release OCI image (package releaseimage)
// from a static trustd binary, without a container daemon or a base image,
// and writes it as an OCI layout directory, a tarball, and/or pushes it to
// a registry. `make image` runs it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/trustd-dev/trustd/internal/releaseimage"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	var (
		o                       releaseimage.Options
		ociDir, tarPath, tarTag string
		push, created           string
		insecure                bool
	)
	fs.StringVar(&o.Binary, "binary", "", "static trustd binary (CGO_ENABLED=0); required")
	fs.StringVar(&o.CABundle, "ca-bundle", "", "PEM CA bundle installed as /etc/ssl/certs/ca-certificates.crt; default none")
	fs.StringVar(&o.Version, "version", "", "org.opencontainers.image.version label; default none")
	fs.StringVar(&o.Revision, "revision", "", "org.opencontainers.image.revision label (the commit); default none")
	fs.StringVar(&o.Source, "source", "https://github.com/trustd-dev/trustd", "org.opencontainers.image.source label")
	fs.StringVar(&o.OS, "os", runtime.GOOS, "the binary's GOOS")
	fs.StringVar(&o.Arch, "arch", runtime.GOARCH, "the binary's GOARCH")
	fs.StringVar(&created, "created", os.Getenv("SOURCE_DATE_EPOCH"), "every timestamp in the image, Unix seconds; default $SOURCE_DATE_EPOCH, else 0")
	fs.StringVar(&ociDir, "oci-layout", "", "write the image into this OCI image layout directory (created; an existing one gains the image); default none")
	fs.StringVar(&tarPath, "tarball", "", "write the image as a docker-load/podman-load tarball here; default none")
	fs.StringVar(&tarTag, "tag", "trustd:dev", "the tarball's image name")
	fs.StringVar(&push, "push", "", "push to this reference (HOST[:PORT]/REPO:TAG), with the credentials of ~/.docker/config.json; default none")
	fs.BoolVar(&insecure, "insecure", false, "push over plain http (loopback and localhost registries always use it); default false")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if ociDir == "" && tarPath == "" && push == "" {
		return errors.New("--oci-layout, --tarball, --push: give at least one output")
	}
	if created != "" {
		sec, err := strconv.ParseInt(created, 10, 64)
		if err != nil {
			return fmt.Errorf("--created: %q is not Unix seconds", created)
		}
		o.Created = time.Unix(sec, 0)
	}
	img, err := releaseimage.Build(o)
	if err != nil {
		return err
	}
	dgst, err := img.Digest()
	if err != nil {
		return err
	}
	if ociDir != "" {
		p, err := layout.FromPath(ociDir)
		if err != nil {
			if p, err = layout.Write(ociDir, empty.Index); err != nil {
				return fmt.Errorf("--oci-layout: %w", err)
			}
		}
		if err := p.AppendImage(img); err != nil {
			return fmt.Errorf("--oci-layout: %w", err)
		}
	}
	if tarPath != "" {
		tag, err := name.NewTag(tarTag)
		if err != nil {
			return fmt.Errorf("--tag: %w", err)
		}
		if err := tarball.WriteToFile(tarPath, tag, img); err != nil {
			return fmt.Errorf("--tarball: %w", err)
		}
	}
	if push != "" {
		var opts []name.Option
		if insecure {
			opts = append(opts, name.Insecure)
		}
		ref, err := name.ParseReference(push, opts...)
		if err != nil {
			return fmt.Errorf("--push: %w", err)
		}
		if err := remote.Write(ref, img, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
			return fmt.Errorf("--push %s: %w", push, err)
		}
		fmt.Printf("%s@%s\n", ref.Context().Name(), dgst)
		return nil
	}
	fmt.Println(dgst)
	return nil
}
