package palisade.rules.pal_028_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_028

alerts_for(events) := got if {
	got := pal_028.alerts with input as {"events": events}
}

ptrace(request, name) := f.kind("ptrace", {"request": request, "request_name": name, "target_pid": 4300, "result": 0})

test_attach_seize_and_poke_fire if {
	alerts_for([ptrace(16, "PTRACE_ATTACH"), ptrace(16902, "PTRACE_SEIZE"), ptrace(5, "PTRACE_POKEDATA")]) == {
		{"index": 0, "rule_id": "PAL-028", "message": "python3 (pid 4242, uid 1000) called ptrace PTRACE_ATTACH on pid 4300 (result 0) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-028", "message": "python3 (pid 4242, uid 1000) called ptrace PTRACE_SEIZE on pid 4300 (result 0) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-028", "message": "python3 (pid 4242, uid 1000) called ptrace PTRACE_POKEDATA on pid 4300 (result 0) in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		ptrace(0, "PTRACE_TRACEME"),
		ptrace(2, "PTRACE_PEEKDATA"),
		ptrace(12, "PTRACE_GETREGS"),
		ptrace(17, "PTRACE_DETACH"),
		f.host(ptrace(16, "PTRACE_ATTACH")),
	])) == 0
}
