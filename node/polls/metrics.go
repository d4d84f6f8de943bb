package polls

// Metrics counts what the runner does; the node backs it with Prometheus
// counters. Methods are called from several goroutines and must not block.
// task is the task's name (tasks are few, so it is fit for a label).
type Metrics interface {
	// Ran counts one command call (answered or not).
	Ran(task string)
	// Pushed counts one changed answer pushed.
	Pushed(task string)
	// Failed counts one error; stage is "call" (the command failed or did
	// not answer JSON), "push", or "store".
	Failed(task, stage string)
	// Acquired counts this node taking a task: its first runner, or a
	// takeover from a node that died, stopped, or lost its lease.
	Acquired(task string)
	// Lost counts this node giving a task up while running; reason is
	// "fenced" (another node holds a newer token), "lease" (renewal
	// refused) or "deleted".
	Lost(task, reason string)
}

// NopMetrics counts nothing.
type NopMetrics struct{}

func (NopMetrics) Ran(string)            {}
func (NopMetrics) Pushed(string)         {}
func (NopMetrics) Failed(string, string) {}
func (NopMetrics) Acquired(string)       {}
func (NopMetrics) Lost(string, string)   {}
