package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/trustd-dev/trustd/internal/configfile"
)

// userConfigKeys are the keys a trustctl config file may hold: the
// connection, the output format, the call deadline, and the default
// --policy file of verify and get.
var userConfigKeys = map[string]bool{
	"server": true, "tls": true, "tls-ca": true, "tls-server-name": true, "tls-cert": true, "tls-key": true,
	"output": true, "timeout": true, "policy": true,
}

// userConfigPaths are the keys whose values are files: relative ones are
// taken from the config file's directory.
var userConfigPaths = []string{"tls-ca", "tls-cert", "tls-key", "policy"}

// policyCommands are the commands whose --policy is a policy file the
// config file's policy key fills (token issue's --policy is a name).
var policyCommands = map[string]bool{"verify": true, "get": true}

// defaultUserConfig is $XDG_CONFIG_HOME/trustctl/config.yaml, else
// ~/.config/trustctl/config.yaml; "" when neither can be found.
func defaultUserConfig() string {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "trustctl", "config.yaml")
}

// applyUserConfig fills the flags of cmd that neither the command line
// nor the environment set from the config file: --config (or
// TRUSTCTL_CONFIG), which must exist, else the default file if there is
// one. sources says which flags are set already (flag or env) and gets
// the ones the file sets.
func applyUserConfig(cmd *cobra.Command, path string, sources map[string]string) error {
	explicit := path != ""
	if !explicit {
		path = defaultUserConfig()
		if path == "" {
			return nil
		}
	}
	cf, err := configfile.Read(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("--config: %w", err)
	}
	if !policyCommands[cmd.Name()] {
		delete(cf.Settings, "policy")
	}
	dir := filepath.Dir(path)
	for _, k := range userConfigPaths {
		s, ok := cf.Settings[k]
		if !ok {
			continue
		}
		for i, v := range s.Values {
			if v != "" && !filepath.IsAbs(v) {
				s.Values[i] = filepath.Join(dir, v)
			}
		}
	}
	if err := cf.Apply(cmd.Flags(), userConfigKeys, sources); err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	return nil
}
