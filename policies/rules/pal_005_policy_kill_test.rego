package palisade.rules.pal_005_test

import data.palisade.lib.fixtures
import data.palisade.rules.pal_005

alerts_for(events) := got if {
	got := pal_005.alerts with input as {"events": events}
}

kill(reason, path) := fixtures.event("process_kill", {"comm": "xmrig"}, {
	"signal": 9, "reason": reason, "rule": 0, "syscall": "openat", "path": path, "late": false,
})

test_a_path_prefix_kill_in_a_pod_fires if {
	alerts_for([kill("path_prefix", "/etc/shadow")]) == {{
		"index": 0,
		"rule_id": "PAL-005",
		"message": "xmrig (pid 4242) was killed with signal 9 in openat: path /etc/shadow matched the policy, in pod shop/web-7d9f8c6b5-x2x4q",
	}}
}

test_a_binary_kill_on_the_host_fires if {
	got := alerts_for([fixtures.host(kill("binary", "/tmp/x"))])
	count(got) == 1
	some a in got
	endswith(a.message, "its binary matched the policy, in the host")
}

test_other_kinds_do_not_fire if {
	count(alerts_for([fixtures.file_open("/etc/shadow")])) == 0
}
