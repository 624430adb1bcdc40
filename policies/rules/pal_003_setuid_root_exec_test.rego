package palisade.rules.pal_003_test

import data.palisade.lib.fixtures
import data.palisade.rules.pal_003

alerts_for(events) := got if {
	got := pal_003.alerts with input as {"events": events}
}

exec_as(uid, euid) := fixtures.exec("/usr/bin/passwd", ["passwd"], {
	"comm": "passwd",
	"binary": "/usr/bin/passwd",
	"parent_comm": "bash",
	"uid": uid,
	"euid": euid,
})

test_setuid_root_exec_fires if {
	alerts_for([exec_as(1000, 0)]) == {{
		"index": 0,
		"rule_id": "PAL-003",
		"message": "passwd (pid 4242) runs as euid 0 for uid 1000 after exec of /usr/bin/passwd in pod shop/web-7d9f8c6b5-x2x4q",
	}}
}

test_fires_at_its_index_in_a_batch if {
	{a.index | some a in alerts_for([exec_as(1000, 1000), exec_as(0, 0), exec_as(65534, 0)])} == {2}
}

test_container_without_a_known_pod_fires if {
	count(alerts_for([fixtures.unenriched(exec_as(1000, 0))])) == 1
}

test_host_process_does_not_fire if {
	count(alerts_for([fixtures.host(exec_as(1000, 0))])) == 0
}

test_root_and_unprivileged_execs_do_not_fire if {
	count(alerts_for([
		exec_as(0, 0),
		exec_as(1000, 1000),
		exec_as(0, 1000),
		exec_as(1000, 1001),
	])) == 0
}

test_other_event_kinds_do_not_fire if {
	ev := fixtures.file_open("/usr/bin/passwd")
	count(alerts_for([object.union(ev, {"process": object.union(ev.process, {"uid": 1000, "euid": 0})})])) == 0
}
