package node

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are per node (a registry of its own, not the global one), so
// several nodes in one test process count apart.
type metrics struct {
	reg         *prometheus.Registry
	connects    prometheus.Counter
	pushes      *prometheus.CounterVec
	deliveries  prometheus.Counter
	acks        prometheus.Counter
	retries     prometheus.Counter
	disconnects *prometheus.CounterVec
	refused     *prometheus.CounterVec
	linkDrops   prometheus.Counter
	purges      prometheus.Counter
}

func newMetrics(connections func() float64, mailboxSize func() float64) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		connects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "courier_connects_total", Help: "Client connections accepted."}),
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
			Name: "courier_connects_refused_total", Help: "Client connections refused, by reason."}, []string{"reason"}),
		linkDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "courier_peer_drops_total", Help: "Envelopes for other nodes not sent (link down or full): their messages arrive by replay."}),
		purges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "courier_dead_node_purges_total", Help: "Dead nodes whose sessions this node purged from the registry."}),
	}
	m.reg.MustRegister(m.connects, m.pushes, m.deliveries, m.acks, m.retries, m.disconnects, m.refused, m.linkDrops, m.purges,
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
func (m *metrics) Delivered()                 { m.deliveries.Inc() }
func (m *metrics) Acked()                     { m.acks.Inc() }
func (m *metrics) Retried()                   { m.retries.Inc() }
func (m *metrics) Disconnected(reason string) { m.disconnects.WithLabelValues(reason).Inc() }
