package palisade.rules.pal_046_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_046

alerts_for(events) := got if {
	got := pal_046.alerts with input as {"events": events}
}

op(syscall, path, new_path, result) := object.union(f.file_op(syscall, path, new_path, 0), {"file_op": {"result": result}})

test_links_to_secrets_fire if {
	alerts_for([
		op("symlinkat", "/etc/shadow", "/tmp/s", 0),
		op("linkat", "/etc/shadow", "/tmp/h", -1),
		op("symlink", "/etc/sudoers.d/90-cloud", "/var/www/html/x", 0),
		op("link", "/etc/ssh/ssh_host_ed25519_key", "/tmp/k", 0),
		op("symlinkat", "/root/.ssh/id_rsa", "/app/static/k", 0),
	]) == {
		{"index": 0, "rule_id": "PAL-046", "message": "sh (pid 4242, uid 1000) made a symlink /tmp/s to /etc/shadow (result 0) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-046", "message": "sh (pid 4242, uid 1000) made a hard link /tmp/h to /etc/shadow (result -1) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-046", "message": "sh (pid 4242, uid 1000) made a symlink /var/www/html/x to /etc/sudoers.d/90-cloud (result 0) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 3, "rule_id": "PAL-046", "message": "sh (pid 4242, uid 1000) made a hard link /tmp/k to /etc/ssh/ssh_host_ed25519_key (result 0) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 4, "rule_id": "PAL-046", "message": "sh (pid 4242, uid 1000) made a symlink /app/static/k to /root/.ssh/id_rsa (result 0) in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		op("symlinkat", "/etc/passwd", "/tmp/p", 0),
		op("symlinkat", "/etc/ssh/ssh_host_ed25519_key.pub", "/tmp/k", 0),
		op("symlinkat", "/root/.ssh/id_rsa.pub", "/tmp/k", 0),
		op("symlinkat", "/etc", "/tmp/e", 0),
		op("renameat2", "/etc/shadow", "/tmp/s", 0),
		f.open("/etc/shadow", f.o_rdonly),
		f.host(op("symlinkat", "/etc/shadow", "/tmp/s", 0)),
	])) == 0
}
