package palisade.rules.pal_029_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_029

alerts_for(events) := got if {
	got := pal_029.alerts with input as {"events": events}
}

load(syscall, file, result) := f.kind_as(
	"module_load", {
		"syscall": syscall, "params": "", "file_name": file, "fd": 3, "flags": 0, "result": result,
	},
	{"comm": "insmod"},
)

test_module_loads_fire if {
	alerts_for([load("finit_module", "rootkit.ko", 0), load("init_module", "", -1)]) == {
		{"index": 0, "rule_id": "PAL-029", "message": "insmod (pid 4242, uid 1000) called finit_module on rootkit.ko (result 0) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-029", "message": "insmod (pid 4242, uid 1000) called init_module (result -1) in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		f.host(load("finit_module", "nf_tables.ko", 0)),
		f.exec("/usr/sbin/lsmod", ["lsmod"]),
	])) == 0
}
