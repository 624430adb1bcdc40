package palisade.rules.pal_024_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_024

alerts_for(events) := got if {
	got := pal_024.alerts with input as {"events": events}
}

capset(old, new) := f.kind("capset", {
	"target_pid": 0, "effective": new, "permitted": new, "inheritable": 0, "old_effective": old, "result": 0,
})

# 8192 = CAP_NET_RAW (13), 2097152 = CAP_SYS_ADMIN (21), 549755813888 = CAP_BPF (39)
test_raised_capabilities_fire if {
	alerts_for([capset(0, 8192), capset(8192, (8192 + 2097152) + 549755813888)]) == {
		{"index": 0, "rule_id": "PAL-024", "message": "python3 (pid 4242, uid 1000) raised CAP_NET_RAW into its effective capabilities (result 0) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-024", "message": "python3 (pid 4242, uid 1000) raised CAP_SYS_ADMIN, CAP_BPF into its effective capabilities (result 0) in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		capset(8192 + 2097152, 8192),
		capset(8192, 8192),
		capset(8192, 0),
		f.kind_as("capset", capset(0, 8192).capset, {"comm": "runc:[2:INIT]"}),
		f.host(capset(0, 8192)),
	])) == 0
}
