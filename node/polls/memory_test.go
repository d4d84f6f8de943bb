package polls_test

import (
	"testing"

	"courier/node/polls"
	"courier/node/polls/pollstest"
)

func TestMemoryContract(t *testing.T) {
	t.Parallel()
	pollstest.Run(t, func(t *testing.T, cfg polls.Config) polls.Store { return polls.NewMemory(cfg) })
}
