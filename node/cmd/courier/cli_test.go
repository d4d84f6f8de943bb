package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"courier/node"
	"courier/node/auth"
)

// runCLI runs cli with a fake node.Run that records the config it got.
func runCLI(t *testing.T, args []string, getenv func(string) string) (code int, stdout, stderr string, got *node.Config) {
	t.Helper()
	var out, errOut bytes.Buffer
	run := func(ctx context.Context, cfg node.Config, log *slog.Logger) error {
		got = &cfg
		return nil
	}
	code = cli(context.Background(), args, getenv, &out, &errOut, run)
	return code, out.String(), errOut.String(), got
}

func TestDevSecretsGeneratedAndPrintedOnce(t *testing.T) {
	code, out, errOut, cfg := runCLI(t, nil, env())
	if code != 0 || cfg == nil {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	if !cfg.DevSecrets || len(cfg.APIKeys) != 1 || len(cfg.APIKeys[0]) != 43 || len(cfg.JWTSecret) != 43 {
		t.Fatalf("want two 32-byte base64url dev secrets, got %+v", cfg)
	}
	if strings.Count(out, cfg.APIKeys[0]) != 2 || !strings.Contains(out, "JWT secret: "+cfg.JWTSecret) {
		t.Errorf("secrets not printed as expected:\n%s", out)
	}
	if !strings.Contains(out, "token --jwt-secret "+cfg.JWTSecret) {
		t.Errorf("no example token command:\n%s", out)
	}
	_, _, _, again := runCLI(t, nil, env())
	if again.JWTSecret == cfg.JWTSecret || again.APIKeys[0] == cfg.APIKeys[0] {
		t.Error("two starts generated the same secrets")
	}
}

func TestGivenSecretsAreNotDev(t *testing.T) {
	code, out, _, cfg := runCLI(t, []string{"--api-key", "k1,k2"}, env("COURIER_JWT_SECRET", "s"))
	if code != 0 || cfg.DevSecrets || cfg.JWTSecret != "s" || len(cfg.APIKeys) != 2 {
		t.Fatalf("exit %d, cfg %+v", code, cfg)
	}
	if out != "" {
		t.Errorf("printed something with no generated secrets: %q", out)
	}
	// One missing secret is still generated, and still marks the node dev-only.
	_, out, _, cfg = runCLI(t, []string{"--api-key", "k1"}, env())
	if !cfg.DevSecrets || cfg.JWTSecret == "" || strings.Contains(out, "API key:") {
		t.Errorf("half-generated: cfg %+v\n%s", cfg, out)
	}
}

func TestNonLoopbackRefusesDevSecrets(t *testing.T) {
	for _, args := range [][]string{
		{"--listen", "0.0.0.0:8080"},
		{"--listen", ":8080", "--api-key", "k"},
		{"--trpc-listen", "10.0.0.1:8000"},
	} {
		code, out, errOut, cfg := runCLI(t, args, env())
		if code != 2 || cfg != nil {
			t.Errorf("%q: exit %d, node started: %v", args, code, cfg != nil)
		}
		if !strings.Contains(errOut, "not loopback") || !strings.Contains(errOut, "--api-key and --jwt-secret") {
			t.Errorf("%q: unclear refusal: %q", args, errOut)
		}
		if out != "" {
			t.Errorf("%q: printed secrets of a node that does not start: %q", args, out)
		}
	}
	long := strings.Repeat("x", node.MinSecretLen)
	code, _, errOut, cfg := runCLI(t, []string{"--listen", "0.0.0.0:8080", "--api-key", long, "--jwt-secret", long}, env())
	if code != 0 || cfg == nil {
		t.Errorf("real secrets on 0.0.0.0: exit %d %s", code, errOut)
	}
}

func TestExitCodes(t *testing.T) {
	if code, out, _, _ := runCLI(t, []string{"-h"}, env()); code != 0 || !strings.Contains(out, "--mailbox-limit messages") || !strings.Contains(out, "(default 300s)") {
		t.Errorf("-h: exit %d\n%s", code, out)
	}
	if code, _, errOut, _ := runCLI(t, []string{"--bogus"}, env()); code != 2 || !strings.Contains(errOut, "-bogus") {
		t.Errorf("bad flag: exit %d %q", code, errOut)
	}
	if code, out, _, _ := runCLI(t, []string{"version"}, env()); code != 0 || !strings.HasPrefix(out, "courier ") {
		t.Errorf("version: exit %d %q", code, out)
	}
	var errOut bytes.Buffer
	fail := func(context.Context, node.Config, *slog.Logger) error { return errors.New("port taken") }
	if code := cli(context.Background(), nil, env(), &bytes.Buffer{}, &errOut, fail); code != 1 || !strings.Contains(errOut.String(), "port taken") {
		t.Errorf("failing node: exit %d %q", code, errOut.String())
	}
}

func TestHelpListsEveryConfigField(t *testing.T) {
	var out bytes.Buffer
	usage(&out, nodeOptions())
	for _, o := range append(nodeOptions(), configOption()) {
		name := o.name
		if !strings.Contains(out.String(), "--"+name+" ") {
			t.Errorf("-h lacks --%s", name)
		}
	}
}

func TestToken(t *testing.T) {
	now := time.Now()
	file := writeYAML(t, "listen: 127.0.0.1:1\njwt-secret: from-file\n")
	cases := []struct {
		name   string
		args   []string
		env    func(string) string
		secret string
	}{
		{"flag", []string{"--jwt-secret", "from-flag"}, env("COURIER_JWT_SECRET", "from-env"), "from-flag"},
		{"env", nil, env("COURIER_JWT_SECRET", "from-env", "COURIER_CONFIG", file), "from-env"},
		{"file", []string{"--config", file}, env(), "from-file"},
	}
	for _, tc := range cases {
		var out, errOut bytes.Buffer
		args := append([]string{"--user", "alice", "--rooms", "lobby, game:*", "--ttl", "90s"}, tc.args...)
		if err := tokenCmd(args, tc.env, &out, &errOut, now); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		c, err := auth.Verify([]byte(tc.secret), strings.TrimSpace(out.String()), now)
		if err != nil {
			t.Fatalf("%s: token does not verify with %q: %v", tc.name, tc.secret, err)
		}
		if c.Sub != "alice" || c.Exp != float64(now.Add(90*time.Second).Unix()) || !c.MayJoin("game:7") || !c.MayJoin("lobby") || c.MayJoin("x") {
			t.Errorf("%s: claims %+v", tc.name, c)
		}
	}
}

func TestTokenTTLAndDevice(t *testing.T) {
	now := time.Now()
	var out, errOut bytes.Buffer
	if err := tokenCmd([]string{"--user", "u", "--ttl", "0", "--device", "phone", "--jwt-secret", "s"}, env(), &out, &errOut, now); err != nil {
		t.Fatal(err)
	}
	c, err := auth.Verify([]byte("s"), strings.TrimSpace(out.String()), now.Add(1000*time.Hour))
	if err != nil || c.Exp != 0 {
		t.Errorf("ttl 0 must not expire: %+v %v", c, err)
	}
	if !strings.Contains(errOut.String(), `"device": "phone"`) {
		t.Errorf("no device hint: %q", errOut.String())
	}
	out.Reset()
	if err := tokenCmd([]string{"--user", "u", "--jwt-secret", "s"}, env(), &out, &errOut, now); err != nil {
		t.Fatal(err)
	}
	if c, _ := auth.Verify([]byte("s"), strings.TrimSpace(out.String()), now); c.Exp != float64(now.Add(time.Hour).Unix()) {
		t.Errorf("default ttl: exp %v, want now+1h", c.Exp)
	}
}

func TestTokenErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--user", "u"}, "no JWT secret"},
		{[]string{"--jwt-secret", "s"}, "--user is required"},
		{[]string{"--user", "u", "--jwt-secret", "s", "--ttl", "soon"}, `"soon" is not a duration`},
		{[]string{"--user", "u", "--jwt-secret", "s", "extra"}, `unexpected argument "extra"`},
	}
	for _, tc := range cases {
		err := tokenCmd(tc.args, env(), &bytes.Buffer{}, &bytes.Buffer{}, time.Now())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.args, err, tc.want)
		}
	}
	code, _, errOut, _ := runCLI(t, []string{"token", "--user", "u"}, env())
	if code != 2 || !strings.Contains(errOut, "no JWT secret") {
		t.Errorf("cli token without secret: exit %d %q", code, errOut)
	}
}

// A generated secret never starts with '-': pasted after a flag it would
// read as another flag. The first 32 bytes here encode to "-...".
func TestRandomSecretNeverLooksLikeAFlag(t *testing.T) {
	dash := bytes.Repeat([]byte{0xfb}, 32) // base64url "-_-_..."
	plain := bytes.Repeat([]byte{0x01}, 32)
	s, err := randomSecret(bytes.NewReader(append(dash, plain...)))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(s, "-") || s != base64.RawURLEncoding.EncodeToString(plain) {
		t.Fatalf("secret %q: want the second draw, not one starting with '-'", s)
	}
}

// `courier check` validates what a start would use, without starting.
func TestCheck(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	var out, errOut bytes.Buffer
	long := strings.Repeat("k", 32)
	if code := cli(context.Background(), []string{"check", "--listen", "0.0.0.0:8080"}, env(map[string]string{"COURIER_API_KEY": long, "COURIER_JWT_SECRET": long}), &out, &errOut, nil); code != 0 || !strings.Contains(out.String(), "ok") {
		t.Fatalf("good config: %d %q %q", code, out.String(), errOut.String())
	}
	errOut.Reset()
	if code := cli(context.Background(), []string{"check", "--listen", "0.0.0.0:8080"}, env(map[string]string{"COURIER_API_KEY": "short", "COURIER_JWT_SECRET": long}), &out, &errOut, nil); code != 2 || !strings.Contains(errOut.String(), "--api-key") {
		t.Fatalf("short key: %d %q", code, errOut.String())
	}
	errOut.Reset()
	if code := cli(context.Background(), []string{"check", "--no-such-flag"}, env(nil), &out, &errOut, nil); code != 2 {
		t.Fatalf("unknown flag: %d %q", code, errOut.String())
	}
	errOut.Reset()
	if code := cli(context.Background(), []string{"check"}, env(map[string]string{"COURIER_API_KEY": long, "COURIER_JWT_SECRET": long, "COURIER_DRAIN_DELAY": "soon"}), &out, &errOut, nil); code != 2 {
		t.Fatalf("bad duration in env: %d %q", code, errOut.String())
	}
}
