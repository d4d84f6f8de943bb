package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"courier/node/auth"
)

// tokenCmd prints a client JWT signed with the node's JWT secret, found the
// same way the node finds it: --jwt-secret, COURIER_JWT_SECRET, or --config.
func tokenCmd(args []string, getenv func(string) string, stdout, stderr io.Writer, now time.Time) error {
	var secretOpt option
	for _, o := range nodeOptions() {
		if o.name == "jwt-secret" {
			secretOpt = o
		}
	}
	fs, flags := newFlagSet("courier token", []option{secretOpt})
	user := fs.String("user", "", "user `id`: the token's sub (required)")
	device := fs.String("device", "", "device `id`; not part of the token, the client sends it in the handshake auth")
	rooms := fs.String("rooms", "", "comma-separated room `patterns` the client may join, * as a suffix wildcard")
	ttl := time.Hour
	fs.Func("ttl", "token lifetime `duration` (1h, or seconds); 0 = never expires (default 1h)", func(v string) error {
		d, err := parseDuration(v)
		ttl = d
		return err
	})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			tokenUsage(stdout, fs)
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *user == "" {
		return errors.New("--user is required")
	}
	var s settings
	if err := resolve(&s, []option{secretOpt}, flags, getenv); err != nil {
		return err
	}
	if s.Config.JWTSecret == "" {
		return errors.New("no JWT secret: pass --jwt-secret, set COURIER_JWT_SECRET, or put jwt-secret in the --config file (a dev node prints its generated secret at start)")
	}
	c := auth.Claims{Sub: *user, Iat: float64(now.Unix()), Rooms: option{sep: ","}.split(*rooms)}
	if ttl > 0 {
		c.Exp = float64(now.Add(ttl).Unix())
	}
	tok, err := auth.Sign([]byte(s.Config.JWTSecrets()[0]), c)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	if *device != "" {
		// Honest about --device: the token names the user, the device is the client's say.
		fmt.Fprintf(stderr, "note: the device is not in the token; connect with auth {\"token\": TOKEN, \"device\": %q}\n", *device)
	}
	return nil
}

func tokenUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "usage: courier token --user U [--device D] [--rooms 'a,b:*'] [--ttl 1h] [--jwt-secret S | --config FILE]")
	fmt.Fprintln(w, "Prints a client JWT signed with the node's secret (also read from COURIER_JWT_SECRET or the YAML jwt-secret).")
	fs.SetOutput(w)
	fs.PrintDefaults()
}
