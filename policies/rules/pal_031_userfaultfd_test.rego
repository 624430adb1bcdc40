package palisade.rules.pal_031_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_031

alerts_for(events) := got if {
	got := pal_031.alerts with input as {"events": events}
}

uffd(result) := f.kind("userfaultfd", {"syscall": "userfaultfd", "flags": 526336, "result": result})

test_userfaultfd_fires if {
	alerts_for([uffd(3), uffd(-1)]) == {
		{"index": 0, "rule_id": "PAL-031", "message": "python3 (pid 4242, uid 1000) created a userfaultfd (flags 526336, result 3) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-031", "message": "python3 (pid 4242, uid 1000) created a userfaultfd (flags 526336, result -1) in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([f.host(uffd(3)), f.kind("memfd_create", {"name": "x", "flags": 0, "result": 3})])) == 0
}
