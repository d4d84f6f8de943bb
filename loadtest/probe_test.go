package main

import "testing"

func TestParseCommandStats(t *testing.T) {
	s := "# Commandstats\r\ncmdstat_evalsha:calls=12,usec=340,usec_per_call=28.33,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_info:calls=3,usec=1\r\ncmdstat_hset:calls=5,usec=9\r\n# CPU\r\nused_cpu_sys:1.5\r\nused_cpu_user:0.25\r\nused_cpu_sys_children:9\r\n"
	got := parseCommandStats(s)
	if got["evalsha"] != 12 || got["hset"] != 5 || got["info"] != 3 || got[cpuKey] != 1750000 || len(got) != 4 {
		t.Fatalf("got %v", got)
	}
	d := got.sub(redisCalls{"evalsha": 2, "hset": 5, cpuKey: 1750000})
	if len(d) != 1 || d["evalsha"] != 10 || d.total() != 10 {
		t.Fatalf("delta %v", d)
	}
}
