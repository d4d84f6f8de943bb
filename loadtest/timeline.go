package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sample is one second of a run: what the clients see and what the servers
// hold. The report draws its charts from these.
type sample struct {
	T          float64          `json:"t"`         // seconds since the run started
	Live       int64            `json:"live"`      // connections open
	Delivered  int64            `json:"delivered"` // messages received so far
	Errors     int64            `json:"errors"`    // failed handshakes + server-side drops so far
	RSS        map[string]int64 `json:"rss,omitempty"`
	Goroutines map[string]int64 `json:"goroutines,omitempty"`
}

// fleetCounts is what a sampler reads from the clients, whether they live
// in this process or in children.
type fleetCounts struct {
	Live        int64 `json:"live"`
	Connected   int64 `json:"connected"`
	Failed      int64 `json:"failed"`
	Disconnects int64 `json:"disconnects"`
	Delivered   int64 `json:"delivered"`
	Reconnects  int64 `json:"reconnects,omitempty"` // successful reconnects after a drop
	LastUp      int64 `json:"last_up,omitempty"`    // unix ns of the latest of them
}

func (f *fleet) counts() fleetCounts {
	return fleetCounts{Live: f.live.Load(), Connected: f.connected.Load(), Failed: f.failed.Load(),
		Disconnects: f.disconnects.Load(), Reconnects: f.reconnects.Load(), LastUp: f.lastUp.Load()}
}

// sampler records a sample every second and drives the progress display.
type sampler struct {
	cfg     Config
	log     *slog.Logger
	hc      *http.Client
	start   time.Time
	src     func() fleetCounts
	prog    *progress
	mu      sync.Mutex
	samples []sample
}

func newSampler(cfg Config, log *slog.Logger, src func() fleetCounts) *sampler {
	return &sampler{cfg: cfg, log: log, hc: &http.Client{Timeout: 900 * time.Millisecond},
		start: time.Now(), src: src, prog: newProgress(cfg.Progress, cfg.Clients, log)}
}

// run samples until ctx ends; the caller cancels ctx when the run is over.
func (s *sampler) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		s.take(ctx)
		select {
		case <-ctx.Done():
			s.prog.done()
			return
		case <-t.C:
		}
	}
}

func (s *sampler) take(ctx context.Context) sample {
	c := s.src()
	smp := sample{T: round3(time.Since(s.start).Seconds()), Live: c.Live, Delivered: c.Delivered,
		Errors: c.Failed + c.Disconnects, RSS: map[string]int64{}, Goroutines: map[string]int64{}}
	for _, u := range s.cfg.Targets {
		if m, err := scrapeMetrics(ctx, s.hc, u); err == nil {
			if len(s.cfg.WatchPIDs) == 0 {
				smp.RSS[u.Host] = m.RSS
			}
			if g, ok := m.Samples["go_goroutines"]; ok {
				smp.Goroutines[u.Host] = int64(g)
			}
		}
	}
	// A local server process's own RSS beats what it reports: the peer
	// and courier are read the same way.
	for _, w := range s.cfg.WatchPIDs {
		if rss, err := procRSS(w.PID); err == nil {
			smp.RSS[w.Name] = rss
		}
	}
	s.mu.Lock()
	var prev sample
	if len(s.samples) > 0 {
		prev = s.samples[len(s.samples)-1]
	}
	s.samples = append(s.samples, smp)
	s.mu.Unlock()
	rate := 0.0
	if dt := smp.T - prev.T; dt > 0 && len(s.samples) > 1 {
		rate = float64(smp.Delivered-prev.Delivered) / dt
	}
	s.prog.show(c, rate, smp.Errors)
	return smp
}

func (s *sampler) all() []sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sample(nil), s.samples...)
}

// serverRSS is the RSS of the servers right now, summed: from /proc for
// --watch-pid processes when there are any, else from the targets' /metrics.
func serverRSS(ctx context.Context, s *sampler) int64 {
	var sum int64
	if len(s.cfg.WatchPIDs) > 0 {
		for _, w := range s.cfg.WatchPIDs {
			if rss, err := procRSS(w.PID); err == nil {
				sum += rss
			}
		}
		return sum
	}
	for _, u := range s.cfg.Targets {
		if m, err := scrapeMetrics(ctx, s.hc, u); err == nil {
			sum += m.RSS
		}
	}
	return sum
}

// serverCPU is the CPU seconds the servers used so far, summed, read like
// serverRSS; -1 when a server cannot tell.
func serverCPU(ctx context.Context, s *sampler) float64 {
	var sum float64
	if len(s.cfg.WatchPIDs) > 0 {
		for _, w := range s.cfg.WatchPIDs {
			secs, err := procCPUSeconds(w.PID)
			if err != nil {
				return -1
			}
			sum += secs
		}
		return sum
	}
	for _, u := range s.cfg.Targets {
		m, err := scrapeMetrics(ctx, s.hc, u)
		secs, ok := m.Samples["process_cpu_seconds_total"]
		if err != nil || !ok {
			return -1
		}
		sum += secs
	}
	return sum
}

// serverSyscalls sums the targets' courier_engine_syscalls_total by op (nil
// when a target has none: not courier, or an older one).
func serverSyscalls(ctx context.Context, s *sampler) map[string]float64 {
	out := map[string]float64{}
	for _, u := range s.cfg.Targets {
		m, err := scrapeMetrics(ctx, s.hc, u)
		if err != nil {
			return nil
		}
		found := false
		for name, v := range m.Samples {
			if rest, ok := strings.CutPrefix(name, `courier_engine_syscalls_total{op="`); ok {
				op, _, _ := strings.Cut(rest, `"`)
				out[op] += v
				found = true
			}
		}
		if !found {
			return nil
		}
	}
	return out
}

// procRSS is VmRSS of /proc/PID/status, in bytes.
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	return parseVmRSS(string(b))
}

func parseVmRSS(status string) (int64, error) {
	for line := range strings.Lines(status) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024, err
			}
		}
	}
	return 0, os.ErrNotExist
}
