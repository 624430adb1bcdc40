package palisade.rules.pal_032_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_032

alerts_for(events) := got if {
	got := pal_032.alerts with input as {"events": events}
}

memfd_exec(filename, comm) := object.union(f.exec_with(filename, ["kworker"], {"comm": comm}), {"exec": {
	"filename": filename, "argv": ["kworker"], "cwd": "/", "from_memfd": true, "cap_effective": 0,
}})

test_memfd_exec_fires if {
	alerts_for([memfd_exec("/proc/self/fd/3", "3"), f.exec("/usr/bin/true", ["true"])]) == {{
		"index": 0, "rule_id": "PAL-032",
		"message": "3 (pid 4242, uid 1000) executed a binary with no file on disk (/proc/self/fd/3, argv kworker) in pod shop/web-7d9f8c6b5-x2x4q",
	}}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		f.exec("/tmp/dropper", ["dropper"]),
		memfd_exec("/proc/self/exe", "runc:[1:CHILD]"),
		f.host(memfd_exec("/proc/self/fd/3", "3")),
	])) == 0
}
