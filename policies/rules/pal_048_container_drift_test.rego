package palisade.rules.pal_048_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_048

alerts_for(events) := got if {
	got := pal_048.alerts with input as {"events": events}
}

origin(ev, o) := object.union(ev, {"exec": o})

test_drifted_binaries_fire if {
	alerts_for([
		origin(f.exec("/usr/local/bin/kubectl", ["kubectl"]), {"exe_overlay_layer": "upper", "exe_modified_after_container_start": false}),
		origin(f.exec("/app/agent", ["agent"]), {"exe_overlay_layer": "", "exe_modified_after_container_start": true}),
		origin(f.exec("/usr/bin/ls", ["ls"]), {"exe_overlay_layer": "upper", "exe_modified_after_container_start": true}),
	]) == {
		{"index": 0, "rule_id": "PAL-048", "message": "/usr/local/bin/kubectl (pid 4242, uid 1000) executed a binary from the overlay's upper layer in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-048", "message": "/app/agent (pid 4242, uid 1000) executed a binary changed after the container started in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-048", "message": "/usr/bin/ls (pid 4242, uid 1000) executed a binary changed after the container started in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		f.exec("/usr/bin/curl", ["curl"]),
		origin(f.exec("/usr/bin/ls", ["ls"]), {"exe_overlay_layer": "lower", "exe_modified_after_container_start": false}),
		origin(f.exec("/usr/bin/ls", ["ls"]), {"exe_overlay_layer": "unknown"}),
		origin(f.exec("/tmp/x", ["x"]), {"exe_overlay_layer": "upper", "from_memfd": true}),
		origin(f.exec_with("/usr/bin/runc", ["runc", "init"], {"comm": "runc:[2:INIT]"}), {"exe_overlay_layer": "upper"}),
		origin(f.exec_with("/usr/sbin/ldconfig", ["ldconfig"], {"comm": "ldconfig", "ancestors": [
			{"pid": 2, "comm": "dpkg", "binary": "/usr/bin/dpkg", "exec_id": ""},
		]}), {"exe_modified_after_container_start": true}),
		f.host(origin(f.exec("/app/agent", ["agent"]), {"exe_modified_after_container_start": true})),
	])) == 0
}
