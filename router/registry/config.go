package registry

import (
	"fmt"
	"time"
)

// DefaultDeviceTTL is taken by a zero Config.DeviceTTL.
const DefaultDeviceTTL = 24 * time.Hour

// Validate reports settings no implementation accepts.
func (c Config) Validate() error {
	if c.DeviceTTL < 0 {
		return fmt.Errorf("registry: DeviceTTL %v is negative", c.DeviceTTL)
	}
	return nil
}

// WithDefaults returns c with zero (or negative) fields replaced by the defaults,
// so every implementation reads the same effective settings.
func (c Config) WithDefaults() Config {
	if c.DeviceTTL <= 0 {
		c.DeviceTTL = DefaultDeviceTTL
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}
