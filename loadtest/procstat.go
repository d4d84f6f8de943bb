package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Everything in a local run shares the same cores, so a latency is only
// meaningful next to who burnt the CPU meanwhile: the tester reads its own
// rusage, the node's /metrics, and with --watch-pid any other local process
// (the tRPC backend) from /proc.

// watchedPID is one --watch-pid NAME=PID.
type watchedPID struct {
	Name string
	PID  int
}

// pidList is the repeatable --watch-pid flag.
type pidList []watchedPID

func (l *pidList) String() string {
	var parts []string
	for _, w := range *l {
		parts = append(parts, w.Name+"="+strconv.Itoa(w.PID))
	}
	return strings.Join(parts, ",")
}

func (l *pidList) Set(v string) error {
	for s := range strings.SplitSeq(v, ",") {
		name, pid, ok := strings.Cut(strings.TrimSpace(s), "=")
		n, err := strconv.Atoi(pid)
		if !ok || name == "" || err != nil || n <= 0 {
			return fmt.Errorf("want NAME=PID, got %q", s)
		}
		*l = append(*l, watchedPID{Name: name, PID: n})
	}
	return nil
}

// userHZ is the unit of utime/stime in /proc/PID/stat: USER_HZ, 100 on
// every Linux architecture Go supports.
const userHZ = 100

// procCPUSeconds is the user+system CPU time of a process so far.
func procCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseProcStat(b)
}

// parseProcStat reads utime and stime (fields 14 and 15) of a
// /proc/PID/stat line. The command name (field 2) is in parentheses and may
// itself hold spaces and parentheses, so fields are counted after the last ')'.
func parseProcStat(b []byte) (float64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("procstat: no ')' in stat line")
	}
	// After ")": field 3 (state) is the first; utime is field 14.
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("procstat: short stat line")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("procstat: utime/stime are not numbers")
	}
	return float64(ut+st) / userHZ, nil
}

// cpuSnapshot reads every watched process; one that cannot be read is left
// out (the run goes on without its number).
func cpuSnapshot(pids pidList) map[string]float64 {
	out := map[string]float64{}
	for _, w := range pids {
		if s, err := procCPUSeconds(w.PID); err == nil {
			out[w.Name] = s
		}
	}
	return out
}
