package palisade.rules.pal_042_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_042

alerts_for(events) := got if {
	got := pal_042.alerts with input as {"events": events}
}

rename(old, new, exe, via) := f.kind_as("process_rename", {
	"old_comm": old, "new_comm": new, "exe": exe, "via": via, "target_pid": 4242, "target_tid": 4242,
	"exe_truncated": false,
}, {"comm": old})

test_masquerading_renames_fire if {
	alerts_for([
		rename("xmrig", "kworker/0:1", "/tmp/xmrig", "prctl"),
		rename("python3", "sshd", "/usr/bin/python3.11", "comm_write"),
		rename("a.out", "[kthreadd]", "", "prctl"),
		rename("agent", "systemd-journal", "/opt/agent", "prctl"),
	]) == {
		{"index": 0, "rule_id": "PAL-042", "message": "xmrig (pid 4242, uid 1000) renamed task 4242 from xmrig to kworker/0:1 (executable /tmp/xmrig, via prctl) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-042", "message": "python3 (pid 4242, uid 1000) renamed task 4242 from python3 to sshd (executable /usr/bin/python3.11, via comm_write) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-042", "message": "a.out (pid 4242, uid 1000) renamed task 4242 from a.out to [kthreadd] (executable unknown, via prctl) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 3, "rule_id": "PAL-042", "message": "agent (pid 4242, uid 1000) renamed task 4242 from agent to systemd-journal (executable /opt/agent, via prctl) in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		rename("node", "npm", "/usr/local/bin/node", "prctl"),
		rename("java", "worker-3", "/usr/bin/java", "prctl"),
		rename("nginx", "nginx", "/usr/sbin/nginx", "prctl"),
		rename("containerd", "containerd", "/usr/bin/containerd", "prctl"),
		rename("systemd-resolve", "systemd-resolve", "/lib/systemd/systemd-resolved", "prctl"),
		rename("bash", "bash", "/bin/bash", "comm_write"),
		f.host(rename("xmrig", "kworker/0:1", "/tmp/xmrig", "prctl")),
	])) == 0
}
