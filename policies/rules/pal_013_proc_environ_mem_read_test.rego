package palisade.rules.pal_013_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_013

alerts_for(events) := got if {
	got := pal_013.alerts with input as {"events": events}
}

cat(path) := f.open_as(path, f.o_rdonly, {"comm": "cat", "binary": "/usr/bin/cat"})

test_other_process_environ_and_mem_fire if {
	alerts_for([cat("/proc/1/environ"), cat("/proc/77/mem"), cat("/proc/77/task/78/environ")]) == {
		{"index": 0, "rule_id": "PAL-013", "message": "cat (pid 4242, uid 1000) read the environment of pid 1 (/proc/1/environ) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-013", "message": "cat (pid 4242, uid 1000) read the memory of pid 77 (/proc/77/mem) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-013", "message": "cat (pid 4242, uid 1000) read the environment of pid 77 (/proc/77/task/78/environ) in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		cat("/proc/4242/environ"),
		cat("/proc/4242/mem"),
		cat("/proc/self/environ"),
		cat("/proc/1/cmdline"),
		cat("/proc/1/maps"),
		cat("/proc/1/environ.txt"),
		cat("/tmp/proc/1/environ"),
		f.host(cat("/proc/1/environ")),
	])) == 0
}
