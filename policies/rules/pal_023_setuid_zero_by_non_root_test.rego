package palisade.rules.pal_023_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_023

alerts_for(events) := got if {
	got := pal_023.alerts with input as {"events": events}
}

setid(syscall, real, eff, saved, old, result) := f.kind("priv_setid", {
	"syscall": syscall, "requested_real": real, "requested_effective": eff, "requested_saved": saved,
	"old_real": old, "old_effective": old, "old_saved": old, "new_real": old, "new_effective": old, "result": result,
})

test_non_root_asking_for_zero_fires if {
	alerts_for([setid("setuid", 0, -1, -1, 1000, -1), setid("setresuid", -1, 0, -1, 65534, 0), setid("setgid", 0, -1, -1, 1000, -1)]) == {
		{"index": 0, "rule_id": "PAL-023", "message": "python3 (pid 4242, uid 1000) called setuid asking for uid 0 (it had uid 1000, result -1) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-023", "message": "python3 (pid 4242, uid 1000) called setresuid asking for uid 0 (it had uid 65534, result 0) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-023", "message": "python3 (pid 4242, uid 1000) called setgid asking for gid 0 (it had gid 1000, result -1) in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		setid("setuid", 0, -1, -1, 0, 0),
		setid("setuid", 1000, -1, -1, 0, 0),
		setid("setresuid", 1000, 1000, 1000, 1000, 0),
		setid("setreuid", -1, -1, -1, 1000, 0),
		f.host(setid("setuid", 0, -1, -1, 1000, -1)),
	])) == 0
}
