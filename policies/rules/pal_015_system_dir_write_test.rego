package palisade.rules.pal_015_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_015

alerts_for(events) := got if {
	got := pal_015.alerts with input as {"events": events}
}

test_writes_renames_and_chmods_below_system_dirs_fire if {
	alerts_for([
		f.open("/etc/nginx/nginx.conf", f.o_write),
		f.open("/usr/local/bin/kworker", f.o_rdwr),
		f.rename("/tmp/x", "/usr/bin/ls"),
		f.chmod("/bin/su", 493),
		f.chown("/root/backdoor"),
		f.open("/lib/x86_64-linux-gnu/libpam.so.0", 64),
	]) == {
		{"index": 0, "rule_id": "PAL-015", "message": "sh (pid 4242, uid 1000) opened /etc/nginx/nginx.conf for writing in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-015", "message": "sh (pid 4242, uid 1000) opened /usr/local/bin/kworker for writing in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-015", "message": "sh (pid 4242, uid 1000) renamed /tmp/x to /usr/bin/ls in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 3, "rule_id": "PAL-015", "message": "sh (pid 4242, uid 1000) changed the mode of /bin/su in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 4, "rule_id": "PAL-015", "message": "sh (pid 4242, uid 1000) changed the owner of /root/backdoor in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 5, "rule_id": "PAL-015", "message": "sh (pid 4242, uid 1000) opened /lib/x86_64-linux-gnu/libpam.so.0 for writing in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_failed_write_fires if {
	ev := f.open("/etc/hosts.allow", f.o_write)
	count(alerts_for([object.union(ev, {"file_open": {"path": "/etc/hosts.allow", "flags": f.o_write, "result": -30}})])) == 1
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		f.open("/etc/passwd", f.o_rdonly),
		f.open("/usr/lib/libc.so.6", 524288),
		f.open("/tmp/etc/x", f.o_write),
		f.open("/etcd/data", f.o_write),
		f.open("/var/log/app.log", f.o_append),
		f.rename("/etc/x", "/tmp/x"),
		f.unlink("/etc/x"),
		f.chmod("/tmp/tool", 493),
		f.host(f.open("/etc/x.conf", f.o_write)),
	])) == 0
}

# One write, one alert: these have a rule of their own.
test_paths_with_their_own_rule_do_not_fire if {
	count(alerts_for([
		f.open("/etc/cron.d/job", f.o_write),
		f.open("/etc/systemd/system/x.service", f.o_write),
		f.open("/root/.ssh/authorized_keys", f.o_append),
		f.open("/root/.bashrc", f.o_append),
		f.open("/etc/ld.so.preload", f.o_write),
		f.open("/etc/passwd", f.o_append),
	])) == 0
}

test_expected_writers_do_not_fire if {
	count(alerts_for([
		f.open_as("/usr/lib/python3.11/__pycache__/os.cpython-311.pyc", f.o_write, {"comm": "python3"}),
		f.open("/root/.cache/pip/http/x", f.o_write),
		f.open("/root/.npm/_cacache/index", f.o_write),
		f.open("/root/.bash_history", f.o_append),
		f.open("/root/.wget-hsts", f.o_write),
		f.open_as("/usr/bin/curl", f.o_write, {"comm": "dpkg"}),
		f.open_as("/etc/ld.so.cache~", f.o_write, {"comm": "ldconfig", "ancestors": [
			{"pid": 1, "comm": "sh", "binary": "/bin/sh", "exec_id": ""},
			{"pid": 2, "comm": "dpkg", "binary": "/usr/bin/dpkg", "exec_id": ""},
		]}),
	])) == 0
}

test_a_pyc_written_by_another_process_fires if {
	count(alerts_for([f.open("/usr/lib/python3.11/__pycache__/os.cpython-311.pyc", f.o_write)])) == 1
}
