package node

import (
	"time"

	dto "github.com/prometheus/client_model/go"

	"courier/node/engine"

	"courier/router/forward"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are per node (a registry of its own, not the global one), so
// several nodes in one test process count apart.
type metrics struct {
	reg         *prometheus.Registry
	connects    prometheus.Counter
	arrivals    prometheus.Histogram
	pushes      *prometheus.CounterVec
	deliveries  prometheus.Counter
	acks        prometheus.Counter
	retries     prometheus.Counter
	disconnects *prometheus.CounterVec
	refused     *prometheus.CounterVec
	linkDrops   prometheus.Counter
	peerRefused prometheus.Counter
	purges      prometheus.Counter
	// what an operator asks: how long pushes, commands and store calls take
	pushTime    prometheus.Histogram
	commandTime *prometheus.HistogramVec
	storeTime   *prometheus.HistogramVec
	storeErrors *prometheus.CounterVec
	handed      prometheus.Histogram
}

// latencyBuckets cover a loopback store call (100 µs) to a stuck backend (10 s).
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newMetrics(connections func() float64, mailboxSize func() float64) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		connects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "courier_connects_total", Help: "Client connections accepted."}),
		arrivals: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "courier_arrival_seconds", Help: "Time from an accepted CONNECT to the session registered with its first reads (the store work of a connect).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "courier_pushes_total", Help: "Pushes accepted, by target kind."}, []string{"target"}),
		deliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "courier_deliveries_total", Help: "Messages emitted to clients (first sends)."}),
		acks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "courier_acks_total", Help: "Acknowledgements received from clients."}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "courier_retries_total", Help: "Messages sent again after an ack timeout."}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "courier_disconnects_total", Help: "Client disconnections, by reason."}, []string{"reason"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "courier_refused_total", Help: "Handshakes refused and client requests rate-limited, by reason (SPEC, Limits)."}, []string{"reason"}),
		linkDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "courier_peer_drops_total", Help: "Envelopes for other nodes not sent (link down or full): their messages arrive by replay."}),
		peerRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "courier_peer_envelopes_refused_total", Help: "Envelopes from peers refused for breaking the rules of input (reserved event, size, names)."}),
		purges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "courier_dead_node_purges_total", Help: "Dead nodes whose sessions this node purged from the registry."}),
		pushTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "courier_push_duration_seconds", Help: "Time to accept a push (stored, handed to the nodes of its addressees), by the push API and the tRPC push service.",
			Buckets: latencyBuckets}),
		commandTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "courier_command_duration_seconds", Help: "Command calls (cmd events and /v1/call) by route pattern and result code (ok, or the error code).",
			Buckets: latencyBuckets}, []string{"route", "code"}),
		storeTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "courier_store_duration_seconds", Help: "Redis calls by operation (the command, script, or pipeline:<first command>).",
			Buckets: latencyBuckets}, []string{"op"}),
		handed: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "courier_delivery_latency_seconds", Help: "From a push accepted to its message handed to this node's sessions (live deliveries, once per message and node; replays are not counted).",
			Buckets: latencyBuckets}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "courier_store_errors_total", Help: "Failed Redis calls by kind: timeout, unreachable, script, other."}, []string{"kind"}),
	}
	m.reg.MustRegister(m.connects, m.arrivals, m.pushes, m.deliveries, m.acks, m.retries, m.disconnects, m.refused, m.linkDrops, m.peerRefused, m.purges,
		m.pushTime, m.commandTime, m.storeTime, m.storeErrors, m.handed,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "courier_connections", Help: "Client connections held now."}, connections),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if mailboxSize != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "courier_mailbox_messages", Help: "Messages cached in mailboxes and room logs (in-memory store)."}, mailboxSize))
	}
	return m
}

// The session.Metrics methods.
func (m *metrics) Delivered() { m.deliveries.Inc() }

// deliveredCount reads courier_deliveries_total, for the node's msgs/s in
// the cluster view (every 2 s, off the delivery path).
func (m *metrics) deliveredCount() uint64 {
	var d dto.Metric
	if m.deliveries.Write(&d) != nil {
		return 0
	}
	return uint64(d.GetCounter().GetValue())
}
func (m *metrics) Acked()                     { m.acks.Inc() }
func (m *metrics) Retried()                   { m.retries.Inc() }
func (m *metrics) Disconnected(reason string) { m.disconnects.WithLabelValues(reason).Inc() }

// The hub.Metrics methods.
func (m *metrics) Pushed(target string) { m.pushes.WithLabelValues(target).Inc() }
func (m *metrics) PeerDropped()         { m.linkDrops.Inc() }
func (m *metrics) PeerRefused()         { m.peerRefused.Inc() }
func (m *metrics) Handed(since time.Duration) {
	m.handed.Observe(max(0, since.Seconds()))
}

// Purged implements peers.Metrics.
func (m *metrics) Purged() { m.purges.Inc() }

// LinksOpened implements peers.Metrics: the peer links' counters, read
// when scraped.
func (m *metrics) LinksOpened(stats func() forward.Stats) {
	counter := func(name, help string, v func(forward.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(stats())) })
	}
	m.reg.MustRegister(
		counter("courier_peer_envelopes_sent_total", "Envelopes sent to other nodes.", func(s forward.Stats) uint64 { return s.SentEnvelopes }),
		counter("courier_peer_frames_sent_total", "Frames (batches of envelopes) sent to other nodes.", func(s forward.Stats) uint64 { return s.SentFrames }),
		counter("courier_peer_link_dropped_queue_full_total", "Envelopes dropped: a peer's queue was full.", func(s forward.Stats) uint64 { return s.DroppedQueueFull }),
		counter("courier_peer_link_dropped_down_total", "Envelopes dropped: a peer's link was down too long.", func(s forward.Stats) uint64 { return s.DroppedLinkDown }),
		counter("courier_peer_reconnects_total", "Peer links dialed again after a failure.", func(s forward.Stats) uint64 { return s.Reconnects }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "courier_peer_links_up", Help: "Peer links open now."},
			func() float64 { return float64(stats().LinksUp) }),
	)
}

// Observed implements redisconn.Observer.
func (m *metrics) Observed(op string, took time.Duration, errKind string) {
	m.storeTime.WithLabelValues(op).Observe(took.Seconds())
	if errKind != "" {
		m.storeErrors.WithLabelValues(errKind).Inc()
	}
}

// Commanded implements command.Observer.
func (m *metrics) Commanded(route, code string, took time.Duration) {
	m.commandTime.WithLabelValues(route, code).Observe(took.Seconds())
}

// memberStates is courier_cluster_members{state}: the members this node sees,
// read at scrape time.
type memberStates struct {
	desc  *prometheus.Desc
	count func() map[string]int
}

func newMemberStates(count func() map[string]int) *memberStates {
	return &memberStates{count: count, desc: prometheus.NewDesc("courier_cluster_members",
		"Cluster members this node sees, by state (alive, suspect, dead, left), itself included.", []string{"state"}, nil)}
}

func (c *memberStates) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *memberStates) Collect(ch chan<- prometheus.Metric) {
	counts := c.count()
	for _, state := range []string{"alive", "suspect", "dead", "left"} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[state]), state)
	}
}

// engineSyscalls is courier_engine_syscalls_total{op}: the lean engine's
// system calls on client connections, read at scrape time. Divided by
// courier_deliveries_total it is what a delivered message costs the kernel.
type engineSyscalls struct {
	desc  *prometheus.Desc
	count func() engine.Syscalls
}

func newEngineSyscalls(count func() engine.Syscalls) *engineSyscalls {
	return &engineSyscalls{count: count, desc: prometheus.NewDesc("courier_engine_syscalls_total",
		"System calls of the lean WebSocket engine on client connections, by op (read, writev, epoll_wait, epoll_ctl).", []string{"op"}, nil)}
}

func (c *engineSyscalls) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *engineSyscalls) Collect(ch chan<- prometheus.Metric) {
	s := c.count()
	for _, v := range []struct {
		op string
		n  uint64
	}{{"read", s.Read}, {"writev", s.Writev}, {"epoll_wait", s.EpollWait}, {"epoll_ctl", s.EpollCtl}} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(v.n), v.op)
	}
}
