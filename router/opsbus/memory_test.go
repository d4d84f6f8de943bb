package opsbus_test

import (
	"testing"

	"courier/router/opsbus"
	"courier/router/opsbus/opsbustest"
)

func TestMemoryContract(t *testing.T) {
	opsbustest.Run(t, func(t *testing.T, cfg opsbus.Config) (opsbus.Bus, opsbus.Bus) {
		cfg.Node = "a"
		m := opsbus.NewMemory(cfg)
		t.Cleanup(m.Close)
		return m, m
	})
}
