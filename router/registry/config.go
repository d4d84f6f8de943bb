package registry

import (
	"fmt"
	"time"
)

// DefaultDeviceTTL is taken by a zero Config.DeviceTTL.
const DefaultDeviceTTL = 24 * time.Hour

// DefaultMaxDevicesPerUser is taken by a zero Config.MaxDevicesPerUser
// (SPEC, Limits: --max-devices-per-user).
const DefaultMaxDevicesPerUser = 64

// Validate reports settings no implementation accepts.
func (c Config) Validate() error {
	if c.DeviceTTL < 0 {
		return fmt.Errorf("registry: DeviceTTL %v is negative", c.DeviceTTL)
	}
	if c.MaxDevicesPerUser < 0 {
		return fmt.Errorf("registry: MaxDevicesPerUser %d is negative", c.MaxDevicesPerUser)
	}
	return nil
}

// WithDefaults returns c with zero (or negative) fields replaced by the defaults,
// so every implementation reads the same effective settings.
func (c Config) WithDefaults() Config {
	if c.DeviceTTL <= 0 {
		c.DeviceTTL = DefaultDeviceTTL
	}
	if c.MaxDevicesPerUser <= 0 {
		c.MaxDevicesPerUser = DefaultMaxDevicesPerUser
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}
