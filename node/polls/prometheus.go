package polls

import "github.com/prometheus/client_golang/prometheus"

// Prometheus backs Metrics with counters labelled by task (tasks are few):
// courier_poll_runs_total, courier_poll_pushes_total,
// courier_poll_errors_total{stage}, courier_poll_acquired_total (takeovers
// included) and courier_poll_lost_total{reason}.
type Prometheus struct {
	runs, pushes, errors, acquired, lost *prometheus.CounterVec
}

var _ Metrics = (*Prometheus)(nil)

// NewPrometheus registers the counters on reg (the node's own registry).
func NewPrometheus(reg prometheus.Registerer) *Prometheus {
	vec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, append([]string{"task"}, labels...))
	}
	p := &Prometheus{
		runs:     vec("courier_poll_runs_total", "Polling-task command calls made by this node."),
		pushes:   vec("courier_poll_pushes_total", "Changed polling-task answers pushed by this node."),
		errors:   vec("courier_poll_errors_total", "Polling-task errors, by stage (call, push, store).", "stage"),
		acquired: vec("courier_poll_acquired_total", "Polling tasks this node took (first runs and takeovers)."),
		lost:     vec("courier_poll_lost_total", "Polling tasks this node gave up while running, by reason (fenced, lease, deleted).", "reason"),
	}
	reg.MustRegister(p.runs, p.pushes, p.errors, p.acquired, p.lost)
	return p
}

func (p *Prometheus) Ran(task string)           { p.runs.WithLabelValues(task).Inc() }
func (p *Prometheus) Pushed(task string)        { p.pushes.WithLabelValues(task).Inc() }
func (p *Prometheus) Failed(task, stage string) { p.errors.WithLabelValues(task, stage).Inc() }
func (p *Prometheus) Acquired(task string)      { p.acquired.WithLabelValues(task).Inc() }
func (p *Prometheus) Lost(task, reason string)  { p.lost.WithLabelValues(task, reason).Inc() }
