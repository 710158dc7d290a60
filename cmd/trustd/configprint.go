package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/trustd-dev/trustd/internal/cliutil"
	"github.com/trustd-dev/trustd/internal/configfile"
)

// redacted replaces a secret in config print.
const redacted = "REDACTED"

// secretWords mark flags whose whole value is a secret: a flag whose name
// has one of them as a dash-separated word (a future --db-password,
// --key-passphrase, --admin-token) is printed redacted. Flags naming a
// file that holds a secret (--token-key, --tls-key) are paths, not
// secrets, and are printed.
var secretWords = []string{"password", "passphrase", "secret", "token", "credentials"}

// urlFlags hold a database URL or DSN whose password is redacted and the
// rest printed.
var urlFlags = map[string]bool{"db": true}

// isURLFlag reports whether flag holds a connection URL: --db and the
// likes of --db-replica or --replica-db.
func isURLFlag(name string) bool {
	return urlFlags[name] || strings.HasPrefix(name, "db-") || strings.HasSuffix(name, "-db") || strings.HasSuffix(name, "-url")
}

// isSecretFlag reports whether the flag's whole value is a secret.
func isSecretFlag(name string) bool {
	words := strings.Split(name, "-")
	for _, w := range secretWords {
		for _, n := range words {
			if n == w {
				// token-key, token-ttl, token-policy… name files and
				// settings about tokens, not tokens.
				if w == "token" && words[len(words)-1] != "token" {
					continue
				}
				return true
			}
		}
	}
	return false
}

// dsnPassword finds password=… in a key=value DSN or a URL's query.
var dsnPassword = regexp.MustCompile(`(?i)(password|passwd|sslpassword)=([^&\s]*)`)

// redactValue is v as config print shows flag name's value.
func redactValue(name, v string) string {
	switch {
	case v == "":
		return v
	case isSecretFlag(name):
		return redacted
	case isURLFlag(name):
		return redactURL(v)
	}
	return v
}

// redactURL hides the password of a URL's user info and any password
// parameter; an unparsable value is hidden whole.
func redactURL(v string) string {
	if !strings.Contains(v, "://") {
		if strings.HasPrefix(v, "sqlite:") {
			return v
		}
		return dsnPassword.ReplaceAllString(v, "${1}="+redacted)
	}
	u, err := url.Parse(v)
	if err != nil {
		return redacted
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), redacted)
		}
	}
	out := u.String()
	out = strings.Replace(out, url.QueryEscape(redacted), redacted, 1)
	return dsnPassword.ReplaceAllString(out, "${1}="+redacted)
}

// setting is one line of config print.
type setting struct {
	Name string `json:"name"`
	// Value is the flag's value; a list for repeatable flags.
	Value  any    `json:"value"`
	Source string `json:"source"`
	Env    string `json:"env"`
}

// configReport is config print's output.
type configReport struct {
	ConfigFile string    `json:"config_file"`
	Settings   []setting `json:"settings"`
}

// report is the effective configuration of fs, secrets redacted.
func (c *config) report(fs *pflag.FlagSet) configReport {
	r := configReport{ConfigFile: c.ConfigFile, Settings: []setting{}}
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name == "output" {
			return
		}
		src := c.sources[f.Name]
		if src == "" {
			src = configfile.SourceDefault
		}
		s := setting{Name: f.Name, Source: src, Env: cliutil.EnvName(envPrefix, f.Name)}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			vals := []string{}
			for _, v := range sv.GetSlice() {
				vals = append(vals, redactValue(f.Name, v))
			}
			s.Value = vals
		} else {
			s.Value = redactValue(f.Name, f.Value.String())
		}
		r.Settings = append(r.Settings, s)
	})
	return r
}

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Inspect trustd's configuration",
		Args:  cobra.NoArgs,
	}
	var cfg config
	var output string
	printCmd := &cobra.Command{
		Use:   "print",
		Short: "Print the effective configuration and where each value came from",
		Long: `print shows every setting trustd would run with, given the same flags,
TRUSTD_* environment and --config file, and where each value came from:
flag, env, file or default (the command line beats the environment, which
beats the file). Secrets are redacted: the password of a database URL and
any flag whose value is a password, passphrase, secret or token. Values are
not validated here; trustd checks them when it starts.

--output json prints {"config_file": …, "settings": [{"name", "value",
"source", "env"}]}, value a list for repeatable flags.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("--output: %q is not text or json", output)
			}
			if err := cfg.layer(cmd.Flags()); err != nil {
				return err
			}
			r := cfg.report(cmd.Flags())
			w := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVALUE\tSOURCE")
			for _, s := range r.Settings {
				v := s.Value
				if l, ok := v.([]string); ok {
					v = "[" + strings.Join(l, ", ") + "]"
				}
				fmt.Fprintf(tw, "%s\t%v\t%s\n", s.Name, v, s.Source)
			}
			return tw.Flush()
		},
	}
	cfg.storeFlags(printCmd.Flags())
	cfg.serveFlags(printCmd.Flags())
	printCmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json (default text)")
	cmd.AddCommand(printCmd)
	return cmd
}
