package mailbox

import (
	"fmt"
	"time"
)

// Defaults taken by zero Config fields.
const (
	DefaultLimit     = 1000
	DefaultDeviceTTL = 24 * time.Hour
)

// Validate reports settings no implementation accepts.
func (c Config) Validate() error {
	if c.Limit < 0 {
		return fmt.Errorf("mailbox: Limit %d is negative", c.Limit)
	}
	if c.DeviceTTL < 0 {
		return fmt.Errorf("mailbox: DeviceTTL %v is negative", c.DeviceTTL)
	}
	return nil
}

// WithDefaults returns c with zero (or negative) fields replaced by the defaults,
// so every implementation reads the same effective settings.
func (c Config) WithDefaults() Config {
	if c.Limit <= 0 {
		c.Limit = DefaultLimit
	}
	if c.DeviceTTL <= 0 {
		c.DeviceTTL = DefaultDeviceTTL
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}
