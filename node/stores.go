package node

import (
	"fmt"

	"github.com/redis/go-redis/v9"

	"courier/node/polls"
	"courier/router/arrival"
	"courier/router/mailbox"
	"courier/router/opsbus"
	"courier/router/redisconn"
	"courier/router/registry"
)

// redisPrefix starts every key courier writes, so a Redis can be shared.
const redisPrefix = "courier"

type stores struct {
	mailbox  mailbox.Mailbox
	registry registry.Registry
	arrival  arrival.Store
	polls    polls.Store
	ops      opsbus.Bus
	redis    redis.UniversalClient // nil on the in-memory stores
	opsRedis redis.UniversalClient // the ops bus's own client; nil on the in-memory stores
	closers  []func()
}

// openStores picks the in-memory stores, or Redis when cfg.Redis is set.
func openStores(cfg Config) (stores, error) {
	if cfg.Redis == "" {
		mb := mailbox.NewMemory(mailbox.Config{Limit: cfg.MailboxLimit})
		reg := registry.NewMemory(registry.Config{MaxDevicesPerUser: cfg.MaxDevicesPerUser})
		ops := opsbus.NewMemory(opsbus.Config{Node: cfg.NodeID, Keep: cfg.TraceKeep})
		return stores{mailbox: mb, registry: reg, arrival: arrival.New(reg, mb), polls: polls.NewMemory(polls.Config{}), ops: ops,
			closers: []func(){ops.Close, mb.Close, reg.Close}}, nil
	}
	client, err := redisconn.Open(cfg.Redis)
	if err != nil {
		return stores{}, fmt.Errorf("--redis: %w", err)
	}
	mb := mailbox.NewRedis(client, mailbox.Config{Limit: cfg.MailboxLimit}, redisPrefix)
	reg := registry.NewRedis(client, registry.Config{MaxDevicesPerUser: cfg.MaxDevicesPerUser}, redisPrefix)
	// The ops bus has a client of its own: its traffic (traces, figures,
	// the watch list) never queues in front of delivery's, nor behind it.
	opsClient, err := redisconn.Open(cfg.Redis)
	if err != nil {
		_ = client.Close()
		return stores{}, fmt.Errorf("--redis: %w", err)
	}
	ops := opsbus.NewRedis(opsClient, opsbus.Config{Node: cfg.NodeID, Keep: cfg.TraceKeep}, redisPrefix)
	return stores{mailbox: mb, registry: reg, arrival: arrival.NewRedis(client, reg, mb), redis: client, opsRedis: opsClient,
		polls: polls.NewRedis(client, polls.Config{}, redisPrefix), ops: ops,
		closers: []func(){ops.Close, func() { _ = opsClient.Close() }, mb.Close, reg.Close, func() { _ = client.Close() }}}, nil
}

// mailboxSize counts the messages the in-memory mailbox caches, for the
// courier_mailbox_messages gauge, read at scrape time; nil on Redis, where
// counting is a scan (mailboxgauge.go).
func (st stores) mailboxSize() func() float64 {
	sized, ok := st.mailbox.(interface{ Size() int })
	if !ok || st.redis != nil {
		return nil
	}
	return func() float64 { return float64(sized.Size()) }
}
