package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// rawFlag records every value given for a flag; parsing waits until all
// layers are known, so one parser serves flags, env and file alike.
type rawFlag struct {
	name string
	seen map[string][]string
}

func (r *rawFlag) String() string {
	if r == nil || r.seen == nil {
		return ""
	}
	return strings.Join(r.seen[r.name], ",")
}

func (r *rawFlag) Set(v string) error {
	r.seen[r.name] = append(r.seen[r.name], v)
	return nil
}

// newFlagSet registers opts plus --config; the returned map fills as Parse runs.
// Output is discarded: callers print errors and usage themselves.
func newFlagSet(name string, opts []option) (*flag.FlagSet, map[string][]string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	seen := map[string][]string{}
	for _, o := range append(opts, configOption()) {
		fs.Var(&rawFlag{name: o.name, seen: seen}, o.name, o.usage)
	}
	return fs, seen
}

// configOption is --config: it names the file layer, so it is read before the others.
func configOption() option {
	return option{name: "config", usage: "YAML `file` whose keys are the flag names"}
}

func envName(name string) string {
	return "COURIER_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// loadNode resolves the node's settings: flags beat env beat file beat defaults.
func loadNode(args []string, getenv func(string) string) (settings, error) {
	opts := nodeOptions()
	fs, flags := newFlagSet("courier", opts)
	if err := fs.Parse(args); err != nil {
		return settings{}, err
	}
	if fs.NArg() > 0 {
		return settings{}, fmt.Errorf("unexpected argument %q (subcommands are token and version)", fs.Arg(0))
	}
	var s settings
	s.Config.DrainDelay, s.Config.DrainSpread = defaultDrainDelay, defaultDrainSpread
	if err := resolve(&s, opts, flags, getenv); err != nil {
		return settings{}, err
	}
	s.Config = s.Config.WithDefaults()
	if s.LogFormat == "" {
		s.LogFormat = "text"
	}
	if s.Config.NodeID == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "courier"
		}
		s.Config.NodeID = defaultNodeID(host, s.Config.Listen)
	}
	return s, nil
}

func defaultNodeID(host, listen string) string {
	if _, port, err := net.SplitHostPort(listen); err == nil && port != "" {
		return host + "-" + port
	}
	return host
}

// resolve sets each of use from the highest layer that has it. Every layer
// replaces a lower one as a whole, lists included.
func resolve(s *settings, use []option, flags map[string][]string, getenv func(string) string) error {
	path := last(flags["config"])
	if path == "" {
		path = getenv(envName("config"))
	}
	var file map[string]fileValue
	if path != "" {
		var err error
		var commands *yaml.Node
		if file, commands, err = readFile(path, nodeOptions()); err != nil {
			return err
		}
		if commands != nil {
			// The command routes table is a structure, not a flag value: it
			// comes from the file only, beside any --route flags.
			if err := commands.Decode(&s.Config.Commands); err != nil {
				return fmt.Errorf("%s:%d: commands: %w", path, commands.Line, err)
			}
		}
	}
	for _, o := range use {
		var vals []string
		var where string
		if raw, ok := flags[o.name]; ok {
			for _, v := range raw {
				vals = append(vals, o.split(v)...)
			}
			where = "flag --" + o.name
		} else if v := getenv(envName(o.name)); v != "" {
			vals, where = o.split(v), "env "+envName(o.name)
		} else if fv, ok := file[o.name]; ok {
			vals, where = fv.vals, fmt.Sprintf("%s:%d: %s", path, fv.line, o.name)
		} else {
			continue
		}
		if err := o.set(s, vals); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	return nil
}

type fileValue struct {
	vals []string
	line int
}

// readFile reads a YAML mapping of option names to a value or a list of
// values. Unknown keys are errors, so a typo does not silently fall back to a default.
func readFile(path string, opts []option) (map[string]fileValue, *yaml.Node, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("config file %s: %w", path, err)
	}
	out := map[string]fileValue{}
	if len(doc.Content) == 0 {
		return out, nil, nil // empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("%s:%d: want a mapping of option names to values", path, root.Line)
	}
	var commands *yaml.Node
	byName := map[string]option{}
	for _, o := range opts {
		byName[o.name] = o
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		o, ok := byName[k.Value]
		if !ok {
			if k.Value == "commands" {
				commands = v
				continue
			}
			return nil, nil, fmt.Errorf("%s:%d: unknown option %q (keys are the flag names, see courier -h)", path, k.Line, k.Value)
		}
		vals, err := nodeValues(o, v)
		if err != nil {
			return nil, nil, fmt.Errorf("%s:%d: %s: %w", path, v.Line, k.Value, err)
		}
		if vals != nil {
			out[k.Value] = fileValue{vals: vals, line: k.Line}
		}
	}
	return out, commands, nil
}

// nodeValues flattens a YAML value: a scalar splits like an env value, a
// sequence gives one item per element (lists only). Null means unset.
func nodeValues(o option, v *yaml.Node) ([]string, error) {
	switch {
	case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
		return nil, nil
	case v.Kind == yaml.ScalarNode:
		return o.split(v.Value), nil
	case v.Kind == yaml.SequenceNode && o.sep != "":
		vals := []string{}
		for _, item := range v.Content {
			if item.Kind != yaml.ScalarNode {
				return nil, errors.New("list items must be plain values")
			}
			vals = append(vals, o.split(item.Value)...)
		}
		return vals, nil
	case v.Kind == yaml.SequenceNode:
		return nil, errors.New("want a single value, not a list")
	default:
		return nil, errors.New("want a value or a list of values")
	}
}
