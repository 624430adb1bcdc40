package palisade.rules.pal_049_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_049

alerts_for(events) := got if {
	got := pal_049.alerts with input as {"events": events}
}

ring(result) := f.kind("io_uring", {"syscall": "io_uring_setup", "entries": 4, "flags": 0, "result": result})

test_io_uring_setup_fires_whatever_the_result if {
	alerts_for([ring(3), ring(-1)]) == {
		{"index": 0, "rule_id": "PAL-049", "message": "python3 (pid 4242, uid 1000) created an io_uring ring (4 entries, flags 0, result 3), whose I/O no syscall hook sees, in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-049", "message": "python3 (pid 4242, uid 1000) created an io_uring ring (4 entries, flags 0, result -1), whose I/O no syscall hook sees, in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	runc := f.kind_as("io_uring", {"syscall": "io_uring_setup", "entries": 4, "flags": 0, "result": 3}, {"comm": "runc:[2:INIT]"})
	count(alerts_for([f.host(ring(3)), runc, f.kind("userfaultfd", {"syscall": "userfaultfd", "flags": 0, "result": 3})])) == 0
}
