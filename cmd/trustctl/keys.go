package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/pkcs11"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/pgp"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// maxKeyFile bounds key files read from disk.
const maxKeyFile = 64 << 10

func readBounded(path string, limit int64) ([]byte, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}

// signingKey is the --key/--key-password-env pair of signing commands.
type signingKey struct {
	path        string
	passwordEnv string
	pkcs11      pkcs11Flags // --pin-env, --pkcs11-module: for a --key that is a pkcs11: URI
}

func (k *signingKey) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&k.path, "key", "", "private key file (PEM PKCS#8, encrypted or not; it never leaves this machine) or PKCS#11 URI 'pkcs11:token=T;object=LABEL?module-path=/path/module.so' (the key never leaves the token)")
	cmd.Flags().StringVar(&k.passwordEnv, "key-password-env", "", "environment variable holding the key's password (else prompt when the key is encrypted)")
	k.pkcs11.flags(cmd)
	_ = cmd.MarkFlagRequired("key")
}

// load reads and decrypts the private key, prompting for a password on the
// terminal when the key is encrypted and no variable names one.
func (k *signingKey) load() (envelope.Signer, envelope.PublicKey, error) {
	if pkcs11.IsURI(k.path) {
		return k.pkcs11.open("--key", k.path)
	}
	data, err := readBounded(k.path, maxKeyFile)
	if err != nil {
		return nil, envelope.PublicKey{}, fmt.Errorf("--key: %w", err)
	}
	var password []byte
	if k.passwordEnv != "" {
		v, ok := os.LookupEnv(k.passwordEnv)
		if !ok {
			return nil, envelope.PublicKey{}, fmt.Errorf("--key-password-env: %s is not set", k.passwordEnv)
		}
		password = []byte(v)
	}
	signer, pub, err := envelope.LoadPrivateKey(data, password)
	if errors.Is(err, envelope.ErrBadPassword) && password == nil && term.IsTerminal(int(os.Stdin.Fd())) {
		fmt.Fprintf(os.Stderr, "password for %s: ", k.path)
		password, err = term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return nil, envelope.PublicKey{}, fmt.Errorf("--key: read password: %w", err)
		}
		signer, pub, err = envelope.LoadPrivateKey(data, password)
	}
	if err != nil {
		return nil, envelope.PublicKey{}, fmt.Errorf("--key: %w", err)
	}
	return signer, pub, nil
}

func newKeyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Register, show and list public keys; generate key pairs",
		Long: `Keys sign statements. trustd keeps a registry of public keys under their
TUF/securesystemslib key id; registering is open, because a key alone grants
nothing: authority comes from delegations, TUF roles and policy.`,
	}
	cmd.AddCommand(newKeyAddCmd(g), newKeyShowCmd(g), newKeyListCmd(g), newKeyGenerateCmd(g), newKeyIDCmd(g))
	return cmd
}

func newKeyAddCmd(g *globals) *cobra.Command {
	var label string
	cmd := &cobra.Command{
		Use:   "add PUBLIC_KEY_FILE|-",
		Short: "Register a public key (PEM, securesystemslib JSON or an OpenPGP certificate)",
		Long: `add registers a public key: a PEM "PUBLIC KEY" block, a securesystemslib
JSON key, or an OpenPGP certificate (armored or binary, as gpg --export
writes it). An OpenPGP certificate is checked (self-signatures, subkey
bindings, algorithms) and registered under its primary fingerprint; its
subkeys are indexed so signatures by any of them find it.

Give an OpenPGP certificate that is already registered again, re-exported
after gpg --edit-key (addkey, adduid, expire, revkey, a certification by
another key, an imported revocation certificate), and add updates it the
way keyservers merge certificates: every packet the registered certificate
lacks is verified (against its primary key; a certification against its
issuer, which must be registered) and added, nothing is ever removed, and
the update is logged. Key show then reflects the new subkeys, expiry and
revocations. Adding the same export again changes nothing. Packets that do
not verify are listed as ignored.`,
		Example: `  trustctl key add release.pub --label release-2026
  openssl pkey -in key.pem -pubout | trustctl key add -
  gpg --export --armor release@example.org | trustctl key add - --label release-gpg
  gpg --quick-set-expire $FPR 2y && gpg --export $FPR | trustctl key add -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readBounded(args[0], keys.MaxKeyBytes)
			if err != nil {
				return fmt.Errorf("PUBLIC_KEY_FILE: %w", err)
			}
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				resp, err := c.Keys.AddKey(ctx, &trustv1.AddKeyRequest{PublicKey: data, Label: label})
				if err != nil {
					return err
				}
				if g.output == "json" {
					return printJSON(cmd.OutOrStdout(), resp)
				}
				verb := "registered"
				switch {
				case len(resp.GetChanges()) > 0:
					verb = fmt.Sprintf("updated (log entry %d)", resp.GetUpdateSeq())
				case !resp.GetCreated():
					verb = "already registered"
				}
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "%s %s (%s)\n", verb, resp.GetKey().GetId(), resp.GetKey().GetType())
				for _, c := range resp.GetChanges() {
					fmt.Fprintf(w, "  added %s\n", c)
				}
				for _, c := range resp.GetIgnored() {
					fmt.Fprintf(w, "  ignored %s\n", c)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&label, "label", "", "label naming the key: letters, digits, '.', '_' and '-', at most 64, stored in lower case and unique ignoring case (default none)")
	return cmd
}

// keyIDDoc is trustctl key id's --output json document.
type keyIDDoc struct {
	File string `json:"file"`
	// KeyID is the id key add registers the key under.
	KeyID string `json:"key_id"`
	Type  string `json:"type"`
	// Aliases are the other ids signatures may name the key by (its
	// in-toto key ids); never null.
	Aliases []string `json:"aliases"`
}

func newKeyIDCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "id PUBLIC_KEY_FILE|-",
		Short: "Print the id 'key add' would register a public key under, without contacting trustd",
		Long: `id reads a public key in any form 'key add' takes (a PEM "PUBLIC KEY"
block, a securesystemslib JSON key, an OpenPGP certificate armored or
binary) and prints the id trustd registers it under: the
TUF/securesystemslib key id (sha256 of the canonical key), or for an
OpenPGP certificate its primary fingerprint. The other ids signatures may
name the key by (in-toto key ids) follow as aliases. Nothing is sent to
the server, so it works offline and on keys nobody registered.`,
		Example: `  trustctl key id release.pub
  gpg --export release@example.org | trustctl key id -
  trustctl key id release.pub -o json | jq -r .key_id`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readBounded(args[0], keys.MaxKeyBytes)
			if err != nil {
				return fmt.Errorf("PUBLIC_KEY_FILE: %w", err)
			}
			k, err := keys.Parse(data)
			if err != nil {
				if bytes.Contains(data, []byte("PRIVATE KEY-----")) {
					return fmt.Errorf("PUBLIC_KEY_FILE %s: a private key; give its public half (FILE.pub from 'trustctl key generate', or 'openssl pkey -in FILE -pubout')", args[0])
				}
				return fmt.Errorf("PUBLIC_KEY_FILE %s: %w", args[0], err)
			}
			doc := keyIDDoc{File: args[0], KeyID: k.ID, Type: k.Type, Aliases: append([]string{}, k.Aliases...)}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), doc)
			}
			fmt.Fprintln(cmd.OutOrStdout(), k.ID)
			for _, a := range doc.Aliases {
				if a != k.ID {
					fmt.Fprintf(cmd.OutOrStdout(), "alias %s\n", a)
				}
			}
			return nil
		},
	}
}

func newKeyShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show KEY_ID",
		Short: "Show a registered key (an OpenPGP key with its user ids, subkeys and status)",
		Long: `show prints a registered key. For an OpenPGP certificate KEY_ID is the
primary fingerprint (gpg's spacing is accepted), and show prints its user
ids, subkeys with their algorithms, creation and expiry, and the key's
current status: valid, expired, revoked (and why, and whether every
signature it ever made is void), or superseded by a rotation.`,
		Example: `  trustctl key show 3f2a…
  trustctl key show "A1B2 C3D4 …"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				id := args[0]
				if fpr, err := pgp.NormalizeFingerprint(id); err == nil {
					id = fpr
				}
				resp, err := c.Keys.GetKey(ctx, &trustv1.GetKeyRequest{KeyId: id})
				if err != nil {
					return err
				}
				if g.output == "json" {
					return printJSON(cmd.OutOrStdout(), resp.GetKey())
				}
				k := resp.GetKey()
				if k.GetPgp() != nil {
					printPGPKey(cmd.OutOrStdout(), k)
					return nil
				}
				fmt.Fprintf(cmd.OutOrStdout(), "key %s\ntype %s (scheme %s)\nlabel %s\nregistered %s\n%s", k.GetId(), k.GetType(),
					k.GetScheme(), k.GetLabel(), ts(k.GetCreatedAt().AsTime()), k.GetPublicKeyPem())
				return nil
			})
		},
	}
}

func newKeyListCmd(g *globals) *cobra.Command {
	var (
		pageSize uint32
		token    string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List registered keys",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.call(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				resp, err := c.Keys.ListKeys(ctx, &trustv1.ListKeysRequest{PageSize: pageSize, PageToken: token})
				if err != nil {
					return err
				}
				if g.output == "json" {
					return printJSON(cmd.OutOrStdout(), resp)
				}
				for _, k := range resp.GetKeys() {
					fmt.Fprintf(cmd.OutOrStdout(), "%s  %-10s  %s\n", k.GetId(), k.GetType(), k.GetLabel())
				}
				if resp.GetNextPageToken() != "" {
					fmt.Fprintf(cmd.ErrOrStderr(), "more: --page-token %s\n", resp.GetNextPageToken())
				}
				return nil
			})
		},
	}
	cmd.Flags().Uint32Var(&pageSize, "page-size", 0, "keys per page (server default 100)")
	cmd.Flags().StringVar(&token, "page-token", "", "continue a previous listing")
	return cmd
}

func newKeyGenerateCmd(g *globals) *cobra.Command {
	var keyType, out string
	cmd := &cobra.Command{
		Use:   "generate --out FILE",
		Short: "Generate a key pair locally (private key 0600, public key FILE.pub)",
		Long: `generate makes a new key pair on this machine. The private key is written
unencrypted as PEM PKCS#8 with mode 0600; protect it (or encrypt it with
openssl pkcs8 -topk8). The public half goes to FILE.pub, ready for
'trustctl key add'. Nothing is sent to the server.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			priv, pub, err := envelope.GenerateKey(keyType)
			if err != nil {
				return fmt.Errorf("--type: %w", err)
			}
			if err := writeNew(out, priv, 0o600); err != nil {
				return fmt.Errorf("--out: %w", err)
			}
			if err := writeNew(out+".pub", pub.Encode(), 0o644); err != nil {
				return fmt.Errorf("--out: %w", err)
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), map[string]string{"key_id": pub.ID, "type": pub.Type, "private_key": out, "public_key": out + ".pub"})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "key %s (%s)\nprivate %s\npublic  %s.pub\n", pub.ID, pub.Type, out, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&keyType, "type", envelope.KeyTypeED25519, "ed25519, ecdsa-p256, ecdsa-p384 or rsa")
	cmd.Flags().StringVar(&out, "out", "", "private key file to create (must not exist)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// writeNew creates path with mode perm, refusing to overwrite.
func writeNew(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// printPGPKey prints an OpenPGP certificate as key show does.
func printPGPKey(w io.Writer, k *trustv1.Key) {
	c := k.GetPgp()
	fmt.Fprintf(w, "key %s\ntype pgp (OpenPGP v%d)\nlabel %s\nregistered %s\n", k.GetId(), c.GetVersion(), k.GetLabel(), ts(k.GetCreatedAt().AsTime()))
	fmt.Fprintf(w, "status %s\n", c.GetStatus().GetSummary())
	for _, u := range c.GetUserIds() {
		fmt.Fprintf(w, "uid %s\n", u)
	}
	printPGPKeyInfo(w, "pub", c.GetPrimary())
	for _, sk := range c.GetSubkeys() {
		printPGPKeyInfo(w, "sub", sk)
	}
}

func printPGPKeyInfo(w io.Writer, kind string, k *trustv1.PGPKeyInfo) {
	expires := "never expires"
	if k.GetExpires() != nil {
		expires = "expires " + ts(k.GetExpires().AsTime())
	}
	revoked := ""
	if k.GetRevoked() {
		revoked = ", revoked"
	}
	fmt.Fprintf(w, "%s %s %s [%s] created %s, %s%s\n", kind, k.GetAlgorithm(), k.GetFingerprint(), k.GetCapabilities(),
		ts(k.GetCreated().AsTime()), expires, revoked)
}
