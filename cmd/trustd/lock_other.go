//go:build !unix

package main

import (
	"errors"
	"os"
)

// errWouldBlock is never returned where flock is not available.
var errWouldBlock = errors.New("lock held")

// flock does nothing where the platform has no flock: the data directory
// is not guarded there.
func flock(*os.File) error { return nil }
