package palisade.rules.pal_027_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_027

alerts_for(events) := got if {
	got := pal_027.alerts with input as {"events": events}
}

test_release_agent_writes_fire if {
	alerts_for([f.open("/tmp/cgrp/release_agent", f.o_write), f.open("/sys/fs/cgroup/rdma/release_agent", f.o_rdwr)]) == {
		{"index": 0, "rule_id": "PAL-027", "message": "sh (pid 4242, uid 1000) opened /tmp/cgrp/release_agent for writing in pod shop/web-7d9f8c6b5-x2x4q: the host runs it as root"},
		{"index": 1, "rule_id": "PAL-027", "message": "sh (pid 4242, uid 1000) opened /sys/fs/cgroup/rdma/release_agent for writing in pod shop/web-7d9f8c6b5-x2x4q: the host runs it as root"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		f.open("/tmp/cgrp/release_agent", f.o_rdonly),
		f.open("/tmp/cgrp/notify_on_release", f.o_rdonly),
		f.open("/tmp/release_agent.txt", f.o_write),
		f.unlink("/tmp/cgrp/release_agent"),
		f.host(f.open("/tmp/cgrp/release_agent", f.o_write)),
	])) == 0
}
