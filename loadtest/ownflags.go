package main

import (
	"fmt"
	"slices"
	"strings"
)

// ownFlag is one of a runner's own flags, taken out of the arguments it
// passes on to a scenario.
type ownFlag struct{ name, val string }

// splitOwnFlags takes a runner's own flags out of args, in order: those in
// valued as --name value or --name=value, those in bare as a lone --name.
// The rest, in order, are the scenario's.
func splitOwnFlags(args []string, valued, bare []string) ([]ownFlag, []string, error) {
	var own []ownFlag
	var rest []string
	for i := 0; i < len(args); i++ {
		name, val, hasVal := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		switch {
		case !hasVal && slices.Contains(bare, name):
			own = append(own, ownFlag{name: name})
			continue
		case !slices.Contains(valued, name):
			rest = append(rest, args[i])
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, nil, fmt.Errorf("--%s needs a value", name)
			}
			i++
			val = args[i]
		}
		own = append(own, ownFlag{name, val})
	}
	return own, rest, nil
}
