// Package cliutil holds what trustd's and trustctl's command lines share:
// environment defaults for flags, the exit-code convention and one-line
// error output.
package cliutil

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// Exit codes shared by both binaries.
const (
	ExitOK       = 0
	ExitNegative = 1 // a definite "no": policy failed, nothing known
	ExitFailure  = 2 // could not decide: bad input, unreachable, internal error
)

// EnvName returns the environment variable that sets flag name under prefix:
// EnvName("TRUSTD", "grpc-addr") is TRUSTD_GRPC_ADDR.
func EnvName(prefix, name string) string {
	return prefix + "_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// BindEnv sets every flag in fs that the command line left alone from its
// environment variable, so flags beat environment beats defaults. names
// limits the binding to those flags; none means all.
func BindEnv(fs *pflag.FlagSet, prefix string, names ...string) error {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || (len(want) > 0 && !want[f.Name]) {
			return
		}
		env := EnvName(prefix, f.Name)
		if v, ok := os.LookupEnv(env); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", env, err))
			}
		}
	})
	return errors.Join(errs...)
}

// ExitError carries an exit code through cobra's error return.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Negative wraps err as a negative answer (exit 1).
func Negative(err error) error { return &ExitError{Code: ExitNegative, Err: err} }

// Exit prints err on one line to w, prefixed with the program name, and
// returns the exit code it stands for.
func Exit(w io.Writer, prog string, err error) int {
	if err == nil {
		return ExitOK
	}
	msg := strings.Join(strings.Fields(err.Error()), " ")
	fmt.Fprintf(w, "%s: %s\n", prog, msg)
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return ExitFailure
}
