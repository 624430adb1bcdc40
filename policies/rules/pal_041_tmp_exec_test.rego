package palisade.rules.pal_041_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_041

alerts_for(events) := got if {
	got := pal_041.alerts with input as {"events": events}
}

origin(ev, o) := object.union(ev, {"exec": o})

test_temp_dir_and_tmpfs_execs_fire if {
	alerts_for([
		origin(f.exec("/tmp/.x/kinsing", ["kinsing"]), {"exe_in_tmp_dir": true, "exe_on_tmpfs": false, "exe_fs_type": "overlay"}),
		origin(f.exec("/run/app/agent", ["agent"]), {"exe_in_tmp_dir": false, "exe_on_tmpfs": true, "exe_fs_type": "tmpfs"}),
		origin(f.exec("/dev/shm/x", ["x"]), {"exe_in_tmp_dir": true, "exe_on_tmpfs": true, "exe_fs_type": "tmpfs"}),
	]) == {
		{"index": 0, "rule_id": "PAL-041", "message": "/tmp/.x/kinsing (pid 4242, uid 1000) executed from a temp directory in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-041", "message": "/run/app/agent (pid 4242, uid 1000) executed from a tmpfs filesystem in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-041", "message": "/dev/shm/x (pid 4242, uid 1000) executed from a temp directory in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		f.exec("/usr/bin/curl", ["curl"]),
		origin(f.exec("/usr/bin/ls", ["ls"]), {"exe_in_tmp_dir": false, "exe_on_tmpfs": false, "exe_fs_type": "overlay"}),
		origin(f.exec("/tmp/x", ["x"]), {"exe_in_tmp_dir": true, "from_memfd": true}),
		origin(f.exec_with("/tmp/runc", ["runc", "init"], {"comm": "runc:[2:INIT]"}), {"exe_in_tmp_dir": true}),
		f.host(origin(f.exec("/tmp/x", ["x"]), {"exe_in_tmp_dir": true})),
		f.open("/tmp/x", f.o_rdonly),
	])) == 0
}
