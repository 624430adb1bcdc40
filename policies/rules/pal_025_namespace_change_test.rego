package palisade.rules.pal_025_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_025

alerts_for(events) := got if {
	got := pal_025.alerts with input as {"events": events}
}

ns(syscall, flags, fd) := f.kind_as("namespace", {"syscall": syscall, "flags": flags, "fd": fd, "result": 0}, {"comm": "unshare"})

test_user_mount_ns_and_setns_fire if {
	alerts_for([ns("unshare", 268435456 + 131072, -1), ns("unshare", 131072, -1), ns("setns", 131072, 3), ns("setns", 0, 4)]) == {
		{"index": 0, "rule_id": "PAL-025", "message": "unshare (pid 4242, uid 1000) unshared into a new user namespace and mount namespace in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-025", "message": "unshare (pid 4242, uid 1000) unshared into a new mount namespace in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-025", "message": "unshare (pid 4242, uid 1000) entered another mount namespace with setns (fd 3) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 3, "rule_id": "PAL-025", "message": "unshare (pid 4242, uid 1000) entered another namespace with setns (fd 4) in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		ns("unshare", 1073741824, -1),
		ns("unshare", 67108864 + 134217728, -1),
		ns("unshare", 512, -1),
		f.kind_as("namespace", {"syscall": "setns", "flags": 131072, "fd": 3, "result": 0}, {"comm": "runc:[2:INIT]"}),
		f.host(ns("unshare", 268435456, -1)),
	])) == 0
}
