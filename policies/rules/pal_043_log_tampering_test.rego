package palisade.rules.pal_043_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_043

alerts_for(events) := got if {
	got := pal_043.alerts with input as {"events": events}
}

trunc_open(path) := object.union(f.open(path, f.o_write), {"file_open": {"truncated_existing": true}})

truncate(path, length) := object.union(f.file_op("truncate", path, "", 0), {"file_op": {"length": length}})

ftruncate(path, length) := object.union(f.file_op("ftruncate", path, "", 0), {"file_op": {"length": length, "fd": 3}})

test_wipes_fire if {
	alerts_for([
		trunc_open("/var/log/auth.log"),
		truncate("/var/log/syslog", 0),
		ftruncate("/var/log/nginx/access.log", 0),
		f.unlink("/var/log/wtmp"),
		f.rename("/var/log/secure", "/tmp/x"),
	]) == {
		{"index": 0, "rule_id": "PAL-043", "message": "sh (pid 4242, uid 1000) emptied /var/log/auth.log (O_TRUNC) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-043", "message": "sh (pid 4242, uid 1000) truncated /var/log/syslog to 0 bytes (truncate) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-043", "message": "sh (pid 4242, uid 1000) truncated /var/log/nginx/access.log to 0 bytes (ftruncate) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 3, "rule_id": "PAL-043", "message": "sh (pid 4242, uid 1000) removed /var/log/wtmp in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 4, "rule_id": "PAL-043", "message": "sh (pid 4242, uid 1000) renamed /var/log/secure to /tmp/x in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		f.open("/var/log/app.log", f.o_append),
		f.open("/var/log/new.log", f.o_write),
		trunc_open("/var/lib/app/state"),
		trunc_open("/var/logs/x"),
		truncate("/var/log/app.log", 1024),
		f.unlink("/var/log/app.log.3.gz"),
		f.unlink("/var/log/app.log-20260101"),
		f.rename("/var/log/app.log", "/var/log/app.log.1"),
		f.rename("/var/log/app.log.1", "/var/log/app.log.2"),
		f.host(trunc_open("/var/log/auth.log")),
	])) == 0
}

test_log_rotators_do_not_fire if {
	count(alerts_for([
		f.open_as("/var/log/app.log", f.o_write, {"comm": "logrotate"}),
		object.union(trunc_open("/var/log/app.log"), {"process": {"comm": "logrotate"}}),
		object.union(f.unlink("/var/log/app.log"), {"process": {"comm": "gzip", "ancestors": [
			{"pid": 1, "comm": "logrotate", "binary": "/usr/sbin/logrotate", "exec_id": ""},
		]}}),
	])) == 0
}
