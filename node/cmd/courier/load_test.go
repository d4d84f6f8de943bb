package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"courier/node"
)

// env is a fake environment for getenv.
func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func writeYAML(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "courier.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	s, err := loadNode(nil, env())
	if err != nil {
		t.Fatal(err)
	}
	c := s.Config
	if c.Listen != "127.0.0.1:8080" || c.DefaultTTL != 300*time.Second || c.ShutdownTimeout != 30*time.Second || c.MailboxLimit != 1000 {
		t.Errorf("defaults not applied: %+v", c)
	}
	if c.DrainDelay != 5*time.Second || c.DrainSpread != 10*time.Second {
		t.Errorf("drain %v / %v: want the 5s / 10s that -h shows", c.DrainDelay, c.DrainSpread)
	}
	if s, _ := loadNode([]string{"--drain-delay", "0", "--drain-spread", "0"}, env()); s.Config.DrainDelay != 0 || s.Config.DrainSpread != 0 {
		t.Errorf("--drain-delay 0 --drain-spread 0 gave %v / %v", s.Config.DrainDelay, s.Config.DrainSpread)
	}
	if !strings.HasSuffix(c.NodeID, "-8080") {
		t.Errorf("node id %q: want host name + -8080", c.NodeID)
	}
	if s.LogFormat != "text" || s.LogLevel.String() != "INFO" {
		t.Errorf("log defaults: %q %v", s.LogFormat, s.LogLevel)
	}
	if len(c.APIKeys) != 0 || c.JWTSecret != "" || c.DevSecrets {
		t.Errorf("the loader must not invent secrets: %+v", c)
	}
}

func TestPrecedenceFlagsEnvFileDefaults(t *testing.T) {
	file := writeYAML(t, `
listen: 127.0.0.1:1001
redis: redis://file:6379/0
mailbox-limit: 11
default-ttl: 60
api-key: [file-a, file-b]
`)
	e := env(
		"COURIER_CONFIG", file,
		"COURIER_REDIS", "redis://env:6379/0",
		"COURIER_MAILBOX_LIMIT", "22",
	)
	s, err := loadNode([]string{"--mailbox-limit", "33"}, e)
	if err != nil {
		t.Fatal(err)
	}
	c := s.Config
	checks := []struct {
		name      string
		got, want any
	}{
		{"flag beats env and file", c.MailboxLimit, 33},
		{"env beats file", c.Redis, "redis://env:6379/0"},
		{"file beats default", c.Listen, "127.0.0.1:1001"},
		{"file bare seconds", c.DefaultTTL, 60 * time.Second},
		{"file list", c.APIKeys, []string{"file-a", "file-b"}},
		{"default when no layer has it", c.AckWindow, 128},
		{"node id from the file's port", strings.HasSuffix(c.NodeID, "-1001"), true},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("%s: got %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	// --config beats COURIER_CONFIG.
	other := writeYAML(t, "listen: 127.0.0.1:2002\n")
	s, err = loadNode([]string{"--config=" + other}, e)
	if err != nil {
		t.Fatal(err)
	}
	if s.Config.Listen != "127.0.0.1:2002" {
		t.Errorf("--config ignored: listen %q", s.Config.Listen)
	}
}

func TestLists(t *testing.T) {
	s, err := loadNode([]string{
		"--api-key", "a, b,,c", "--api-key=d",
		"--route", "trpc.app.echo.*=127.0.0.1:8000,127.0.0.1:8001",
		"--route", "trpc.app.other.*=127.0.0.1:9000",
	}, env(
		"COURIER_JOIN", "n1:7946,n2:7946",
		"COURIER_CORS_ORIGINS", "*",
		"COURIER_API_KEY", "ignored-because-flag",
		"COURIER_ADMIN_KEY", "ops-1, ops-2",
	))
	if err != nil {
		t.Fatal(err)
	}
	c := s.Config
	want := map[string][2]any{
		"api-key":      {c.APIKeys, []string{"a", "b", "c", "d"}},
		"admin-key":    {c.AdminKeys, []string{"ops-1", "ops-2"}},
		"route":        {c.Routes, []string{"trpc.app.echo.*=127.0.0.1:8000,127.0.0.1:8001", "trpc.app.other.*=127.0.0.1:9000"}},
		"join":         {c.Join, []string{"n1:7946", "n2:7946"}},
		"cors-origins": {c.CORSOrigins, []string{"*"}},
	}
	for name, gw := range want {
		if !reflect.DeepEqual(gw[0], gw[1]) {
			t.Errorf("%s: got %q, want %q", name, gw[0], gw[1])
		}
	}

	s, err = loadNode(nil, env("COURIER_ROUTE", "a.*=h:1,h:2; b.*=h:3"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a.*=h:1,h:2", "b.*=h:3"}; !reflect.DeepEqual(s.Config.Routes, want) {
		t.Errorf("env routes: got %q, want %q", s.Config.Routes, want)
	}

	file := writeYAML(t, "join: n1:1, n2:2\nroute:\n  - a.*=h:1,h:2\n  - b.*=h:3\n")
	s, err = loadNode([]string{"--config", file}, env())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Config.Join, []string{"n1:1", "n2:2"}) || !reflect.DeepEqual(s.Config.Routes, []string{"a.*=h:1,h:2", "b.*=h:3"}) {
		t.Errorf("file lists: join %q routes %q", s.Config.Join, s.Config.Routes)
	}
}

func TestAllFlagsSet(t *testing.T) {
	s, err := loadNode([]string{
		"--listen=127.0.0.1:1", "--node-id=n", "--redis=redis://r:1/0", "--gossip-listen=127.0.0.1:2",
		"--peer-listen=127.0.0.1:3", "--cluster-secret=cs", "--jwt-secret=js", "--trpc-listen=127.0.0.1:4",
		"--shutdown-timeout=5s", "--default-ttl=1m", "--max-data-bytes=10", "--ack-timeout=2s",
		"--ack-retries=4", "--send-queue=5", "--ack-window=6", "--ping-interval=7s", "--ping-timeout=8s",
		"--log-level=debug", "--log-format=json",
	}, env())
	if err != nil {
		t.Fatal(err)
	}
	c := s.Config
	got := []any{c.Listen, c.NodeID, c.Redis, c.GossipListen, c.PeerListen, c.ClusterSecret, c.JWTSecret, c.TRPCListen,
		c.ShutdownTimeout, c.DefaultTTL, c.MaxDataBytes, c.AckTimeout, c.AckRetries, c.SendQueue, c.AckWindow,
		c.PingInterval, c.PingTimeout, s.LogLevel.String(), s.LogFormat}
	want := []any{"127.0.0.1:1", "n", "redis://r:1/0", "127.0.0.1:2", "127.0.0.1:3", "cs", "js", "127.0.0.1:4",
		5 * time.Second, time.Minute, 10, 2 * time.Second, 4, 5, 6, 7 * time.Second, 8 * time.Second, "DEBUG", "json"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

func TestBadValues(t *testing.T) {
	file := writeYAML(t, "listen: 127.0.0.1:1\nmailbox-limt: 5\n")
	cases := []struct {
		args []string
		env  func(string) string
		want string
	}{
		{[]string{"--mailbox-limit", "many"}, env(), `flag --mailbox-limit: "many" is not a whole number`},
		{nil, env("COURIER_ACK_WINDOW", "-1"), `env COURIER_ACK_WINDOW: "-1" is not a whole number`},
		{[]string{"--default-ttl", "5 minutes"}, env(), `flag --default-ttl: "5 minutes" is not a duration`},
		{[]string{"--ping-timeout", "-3s"}, env(), `flag --ping-timeout: "-3s" is not a duration >= 0`},
		{[]string{"--log-level", "loud"}, env(), `"loud" is not a log level`},
		{[]string{"--log-format", "xml"}, env(), `"xml" is not a log format`},
		{[]string{"--no-such-flag"}, env(), "flag provided but not defined"},
		{[]string{"serve"}, env(), `unexpected argument "serve"`},
		{[]string{"--config", file}, env(), `:2: unknown option "mailbox-limt"`},
		{[]string{"--config", writeYAML(t, "listen: [a, b]\n")}, env(), "listen: want a single value, not a list"},
		{[]string{"--config", writeYAML(t, "commands:\n  x: y\n")}, env(), ":2: commands: yaml: unmarshal errors"},
		{[]string{"--config", writeYAML(t, "- a\n")}, env(), "want a mapping"},
		{[]string{"--config", writeYAML(t, "listen: [\n")}, env(), "config file"},
		{[]string{"--config", "/nonexistent/courier.yaml"}, env(), "no such file"},
		{nil, env("COURIER_CONFIG", writeYAML(t, "send-queue: lots\n")), `:1: send-queue: "lots" is not a whole number`},
	}
	for _, tc := range cases {
		_, err := loadNode(tc.args, tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}

func TestEmptyAndNullFile(t *testing.T) {
	for _, body := range []string{"", "# nothing\n", "redis: ~\nlisten: 127.0.0.1:9\n"} {
		s, err := loadNode([]string{"--config", writeYAML(t, body)}, env())
		if err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		if s.Config.Redis != "" {
			t.Errorf("%q: null redis gave %q", body, s.Config.Redis)
		}
	}
}

func TestDefaultNodeID(t *testing.T) {
	for listen, want := range map[string]string{"127.0.0.1:8080": "h-8080", ":9000": "h-9000", "[::1]:7": "h-7", "bad": "h"} {
		if got := defaultNodeID("h", listen); got != want {
			t.Errorf("defaultNodeID(h, %q) = %q, want %q", listen, got, want)
		}
	}
}

// TestEveryConfigFieldHasAnOption keeps the flags in step with node.Config:
// a field added there without a flag here fails this test.
func TestEveryConfigFieldHasAnOption(t *testing.T) {
	names := map[string]bool{}
	for _, o := range nodeOptions() {
		names[o.name] = true
	}
	typ := reflect.TypeOf(node.Config{})
	for i := range typ.NumField() {
		tag := typ.Field(i).Tag.Get("yaml")
		if tag != "-" && tag != "commands" && !names[tag] { // commands: is a table, file only
			t.Errorf("node.Config.%s (yaml %q) has no option", typ.Field(i).Name, tag)
		}
	}
}

func TestAPIRate(t *testing.T) {
	s, err := loadNode(nil, env("COURIER_API_RATE", "12.5"))
	if err != nil || s.Config.APIRate != 12.5 {
		t.Errorf("api-rate: %v %v", s.Config.APIRate, err)
	}
	if _, err := loadNode([]string{"--api-rate", "fast"}, env()); err == nil || !strings.Contains(err.Error(), `"fast" is not a number`) {
		t.Errorf("bad api-rate: %v", err)
	}
}

func TestCommandsTableFromFile(t *testing.T) {
	file := writeYAML(t, `route: ["trpc.app.user.*=10.0.0.1:8000"]
commands:
  - callee: trpc.app.echo.*
    addrs: [127.0.0.1:8000, 127.0.0.1:8001]
    timeout: 2s
    envs:
      test: [127.0.0.1:9000]
    rate: 200
    concurrency: 50
  - callee: trpc.app.shop.*
    addrs: [http://127.0.0.1:9100/api]
`)
	s, err := loadNode([]string{"--config", file}, env())
	if err != nil {
		t.Fatal(err)
	}
	c := s.Config.Commands
	if len(c) != 2 || c[0].Pattern != "trpc.app.echo.*" || len(c[0].Addrs) != 2 || c[0].Timeout != 2*time.Second || c[0].Envs["test"][0] != "127.0.0.1:9000" ||
		c[0].Rate != 200 || c[0].Concurrency != 50 || c[1].Addrs[0] != "http://127.0.0.1:9100/api" {
		t.Fatalf("commands: %+v", c)
	}
	if len(s.Config.Routes) != 1 {
		t.Fatalf("route: %v", s.Config.Routes)
	}
}
