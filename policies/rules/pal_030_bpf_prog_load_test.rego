package palisade.rules.pal_030_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_030

alerts_for(events) := got if {
	got := pal_030.alerts with input as {"events": events}
}

load(t, name, result) := f.kind("bpf_prog_load", {"prog_type": t, "insn_count": 2, "prog_name": name, "result": result})

test_prog_loads_fire if {
	alerts_for([load(2, "hide_pid", 5), load(1, "", -1), load(99, "x", 7)]) == {
		{"index": 0, "rule_id": "PAL-030", "message": "python3 (pid 4242, uid 1000) loaded a kprobe eBPF program hide_pid (2 instructions, result 5) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-030", "message": "python3 (pid 4242, uid 1000) loaded a socket filter eBPF program (unnamed) (2 instructions, result -1) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-030", "message": "python3 (pid 4242, uid 1000) loaded a type 99 eBPF program x (2 instructions, result 7) in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([f.host(load(2, "collector", 5)), f.kind("memfd_create", {"name": "x", "flags": 0, "result": 3})])) == 0
}
