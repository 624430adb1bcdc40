package palisade.rules.pal_044_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_044

alerts_for(events) := got if {
	got := pal_044.alerts with input as {"events": events}
}

trunc_open(path, comm) := object.union(f.open_as(path, f.o_write, {"comm": comm}), {"file_open": {"truncated_existing": true}})

truncate(path) := object.union(f.file_op("truncate", path, "", 0), {"file_op": {"length": 0}})

symlink(target, link) := object.union(f.file_op("symlinkat", target, link, 0), {"file_op": {"symlink_text": target}})

test_history_clearing_fires if {
	alerts_for([
		trunc_open("/root/.bash_history", "cp"),
		truncate("/home/u/.zsh_history"),
		f.unlink("/root/.bash_history"),
		symlink("/dev/null", "/root/.bash_history"),
		trunc_open("/root/.bash_history", "sh"),
		f.rename("/home/u/.local/share/fish/fish_history", "/tmp/h"),
	]) == {
		{"index": 0, "rule_id": "PAL-044", "message": "cp (pid 4242, uid 1000) emptied /root/.bash_history (O_TRUNC) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-044", "message": "sh (pid 4242, uid 1000) truncated /home/u/.zsh_history to 0 bytes in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-044", "message": "sh (pid 4242, uid 1000) removed /root/.bash_history in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 3, "rule_id": "PAL-044", "message": "sh (pid 4242, uid 1000) replaced /root/.bash_history with a symlink to /dev/null in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 4, "rule_id": "PAL-044", "message": "sh (pid 4242, uid 1000) emptied /root/.bash_history (O_TRUNC) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 5, "rule_id": "PAL-044", "message": "sh (pid 4242, uid 1000) removed /home/u/.local/share/fish/fish_history in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		trunc_open("/root/.bash_history", "bash"),
		trunc_open("/home/u/.zsh_history", "zsh"),
		f.open("/root/.bash_history", f.o_append),
		f.open("/root/.bash_history", f.o_rdonly),
		trunc_open("/root/.bash_history.bak", "cp"),
		object.union(f.file_op("truncate", "/root/.bash_history", "", 0), {"file_op": {"length": 100}}),
		symlink("/root/.bash_history", "/tmp/h"),
		f.host(f.unlink("/root/.bash_history")),
	])) == 0
}
