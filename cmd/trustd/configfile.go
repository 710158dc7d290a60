package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/trustd-dev/trustd/internal/cliutil"
	"github.com/trustd-dev/trustd/internal/configfile"
)

// layer fills fs's flags from the environment and the config file, the
// command line winning over both and the environment over the file, and
// records where each flag's value came from in c.sources.
func (c *config) layer(fs *pflag.FlagSet) error {
	c.sources = map[string]string{}
	fs.Visit(func(f *pflag.Flag) { c.sources[f.Name] = configfile.SourceFlag })
	if err := cliutil.BindEnv(fs, envPrefix); err != nil {
		return err
	}
	fs.Visit(func(f *pflag.Flag) {
		if _, ok := c.sources[f.Name]; !ok {
			c.sources[f.Name] = configfile.SourceEnv
		}
	})
	if c.ConfigFile == "" {
		return nil
	}
	cf, err := configfile.Read(c.ConfigFile)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	if err := cf.Apply(fs, configKeys(), c.sources); err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	return nil
}

// configKeys are the keys a trustd config file may hold: every flag of
// trustd serve.
func configKeys() map[string]bool {
	var c config
	fs := pflag.NewFlagSet("keys", pflag.ContinueOnError)
	c.storeFlags(fs)
	c.serveFlags(fs)
	keys := map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) { keys[f.Name] = true })
	delete(keys, "config")
	return keys
}
