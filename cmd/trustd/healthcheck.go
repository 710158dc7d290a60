package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/trustd-dev/trustd/internal/cliutil"
)

// newHealthcheckCmd is the probe of a container's HEALTHCHECK: the release
// image has no shell and no curl, so trustd probes itself. It reads the
// same --http-addr and --tls-cert (flags or TRUSTD_* environment) as the
// server it runs beside, so in a container it needs no arguments.
func newHealthcheckCmd() *cobra.Command {
	var (
		httpAddr, tlsCert, path string
		timeout                 time.Duration
	)
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Probe the local trustd's /readyz; exit 0 when ready, 1 when not",
		Long: `healthcheck asks the trustd beside it (same host or container) for /readyz
on --http-addr, over https when --tls-cert is set (the certificate is not
checked: the probe sends nothing and only reads the status of the local
process), and exits 0 on 200, 1 on any other answer or none (2: bad flags). An unspecified listen address
(0.0.0.0, ::) is probed on loopback. It reads TRUSTD_HTTP_ADDR and
TRUSTD_TLS_CERT like trustd itself, so a container's HEALTHCHECK is just
["/trustd", "healthcheck"].`,
		Example:       `  trustd healthcheck --http-addr 127.0.0.1:7401`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Only the two settings it shares with the server come from the
			// environment.
			if err := cliutil.BindEnv(cmd.Flags(), envPrefix, "http-addr", "tls-cert"); err != nil {
				return err
			}
			if timeout <= 0 {
				return fmt.Errorf("--timeout: %s must be positive", timeout)
			}
			url, err := probeURL(httpAddr, tlsCert != "", path)
			if err != nil {
				return err
			}
			client := &http.Client{Timeout: timeout, Transport: &http.Transport{
				// #nosec G402 -- a probe of the local process sends no
				// secret and trusts nothing it reads but the status.
				TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12},
				Proxy:           nil,
			}}
			resp, err := client.Get(url)
			if err != nil {
				return cliutil.Negative(fmt.Errorf("%s: %w", url, err))
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return cliutil.Negative(fmt.Errorf("%s: %s", url, resp.Status))
			}
			fmt.Fprintln(cmd.OutOrStdout(), "ok", url)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&httpAddr, "http-addr", defaultHTTPAddr, "trustd's HTTP listen address; an unspecified host is probed on loopback (env TRUSTD_HTTP_ADDR)")
	fl.StringVar(&tlsCert, "tls-cert", "", "set when trustd serves TLS, to probe over https; only whether it is set matters; default none: http (env TRUSTD_TLS_CERT)")
	fl.StringVar(&path, "path", "/readyz", "path probed: /readyz (store reachable) or /healthz (process up)")
	fl.DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	return cmd
}

// probeURL turns a listen address into the URL to probe.
func probeURL(addr string, https bool, path string) (string, error) {
	if addr == "" {
		return "", errors.New("--http-addr: empty: trustd serves no HTTP to probe")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--http-addr: %w", err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	scheme := "http"
	if https {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + path, nil
}
