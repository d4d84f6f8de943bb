package node

import "syscall"

// defaultMaxConnections keeps a node below its open-file limit (90% of it
// for connections, the rest for Redis, peers, listeners and logs), so a
// flood is refused with 503 rather than killing accept with EMFILE. With
// no limit to read it bounds nothing.
func defaultMaxConnections() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 || rl.Cur > 1<<30 {
		return 1 << 30
	}
	return max(1, int(rl.Cur)*9/10)
}
