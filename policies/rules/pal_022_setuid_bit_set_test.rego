package palisade.rules.pal_022_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_022

alerts_for(events) := got if {
	got := pal_022.alerts with input as {"events": events}
}

# 04755, 02755, 06755 and chmod u+s on a 0755 file (the kernel sees 04755)
test_setid_modes_fire if {
	alerts_for([f.chmod("/tmp/sh", 2541), f.chmod("/tmp/sh", 1517), f.chmod("/tmp/sh", 3565), f.file_op("chmod", "/tmp/py", "", 2541)]) == {
		{"index": 0, "rule_id": "PAL-022", "message": "sh (pid 4242, uid 1000) set the setuid bit on /tmp/sh (mode 04755) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-022", "message": "sh (pid 4242, uid 1000) set the setgid bit on /tmp/sh (mode 02755) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-022", "message": "sh (pid 4242, uid 1000) set the setuid and setgid bit on /tmp/sh (mode 06755) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 3, "rule_id": "PAL-022", "message": "sh (pid 4242, uid 1000) set the setuid bit on /tmp/py (mode 04755) in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		f.chmod("/tmp/sh", 493),
		f.chmod("/tmp", 1023),
		f.chmod("/tmp/x", 420),
		f.file_op("fchownat", "/tmp/sh", "", 2541),
		object.union(f.chmod("/usr/bin/su", 2541), {"process": object.union(f.chmod("/x", 0).process, {"comm": "dpkg"})}),
		f.host(f.chmod("/tmp/sh", 2541)),
	])) == 0
}
