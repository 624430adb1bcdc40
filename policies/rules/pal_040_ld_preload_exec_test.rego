package palisade.rules.pal_040_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_040

alerts_for(events) := got if {
	got := pal_040.alerts with input as {"events": events}
}

with_env(ev, extra) := object.union(ev, {"exec": extra})

curl := f.exec("/usr/bin/curl", ["curl", "x"])

test_preload_audit_and_tmp_library_path_fire if {
	alerts_for([
		with_env(curl, {"env": {"LD_PRELOAD": "/tmp/x.so"}}),
		with_env(curl, {"env": {"LD_AUDIT": "/dev/shm/a.so", "LD_PRELOAD": "libhook.so"}}),
		with_env(curl, {"env": {"LD_LIBRARY_PATH": "/usr/lib:/var/tmp/l"}}),
		with_env(curl, {"env": {"LD_LIBRARY_PATH": "lib"}}),
		with_env(curl, {"env": {}, "env_scan_incomplete": true, "env_count": 600, "env_bytes": 40000}),
	]) == {
		{"index": 0, "rule_id": "PAL-040", "message": "/usr/bin/curl (pid 4242, uid 1000) executed with LD_PRELOAD=/tmp/x.so in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-040", "message": "/usr/bin/curl (pid 4242, uid 1000) executed with LD_AUDIT=/dev/shm/a.so, LD_PRELOAD=libhook.so in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-040", "message": "/usr/bin/curl (pid 4242, uid 1000) executed with LD_LIBRARY_PATH=/usr/lib:/var/tmp/l in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 3, "rule_id": "PAL-040", "message": "/usr/bin/curl (pid 4242, uid 1000) executed with LD_LIBRARY_PATH=lib in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 4, "rule_id": "PAL-040", "message": "/usr/bin/curl (pid 4242, uid 1000) executed with an environment too large to scan (600 strings, 40000 bytes) in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		curl,
		with_env(curl, {"env": {}}),
		with_env(curl, {"env": {"LD_PRELOAD": ""}}),
		with_env(curl, {"env": {"LD_LIBRARY_PATH": "/usr/local/lib:/opt/app/lib"}}),
		with_env(curl, {"env": {"LD_LIBRARY_PATH": "/tmpfoo/lib:"}}),
		with_env(curl, {"env": {"LD_BIND_NOW": "1"}}),
		f.host(with_env(curl, {"env": {"LD_PRELOAD": "/tmp/x.so"}})),
		f.open("/tmp/x.so", f.o_rdonly),
	])) == 0
}
