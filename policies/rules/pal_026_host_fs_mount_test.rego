package palisade.rules.pal_026_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_026

alerts_for(events) := got if {
	got := pal_026.alerts with input as {"events": events}
}

mount(source, target, fstype, flags) := f.kind_as(
	"mount", {
		"syscall": "mount", "source": source, "target": target, "fstype": fstype, "flags": flags, "result": 0,
	},
	{"comm": "mount"},
)

test_host_mounts_and_debugfs_fire if {
	alerts_for([
		mount("proc", "/tmp/p", "proc", 0),
		mount("/dev/vda1", "/mnt", "ext4", 0),
		mount("cgroup", "/tmp/cgrp", "cgroup", 0),
		mount("/", "/host", "", 4096 + 16384),
		f.exec("/usr/sbin/debugfs", ["debugfs", "-w", "/dev/vda1"]),
	]) == {
		{"index": 0, "rule_id": "PAL-026", "message": "mount (pid 4242, uid 1000) mounted a proc filesystem (proc on /tmp/p, result 0) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-026", "message": "mount (pid 4242, uid 1000) mounted a host disk (ext4) (/dev/vda1 on /mnt, result 0) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-026", "message": "mount (pid 4242, uid 1000) mounted a cgroup filesystem (cgroup on /tmp/cgrp, result 0) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 3, "rule_id": "PAL-026", "message": "mount (pid 4242, uid 1000) mounted a bind of a host path (/ on /host, result 0) in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 4, "rule_id": "PAL-026", "message": "/usr/sbin/debugfs (pid 4242, uid 1000) ran the filesystem debugger: debugfs -w /dev/vda1 in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		mount("tmpfs", "/etc", "tmpfs", 0),
		mount("none", "/", "", 278528),
		mount("overlay", "/merged", "overlay", 0),
		mount("/app/data", "/mnt/data", "", 4096),
		mount("/dev/shm", "/mnt", "tmpfs", 0),
		f.kind_as("mount", mount("proc", "/proc", "proc", 0).mount, {"comm": "runc:[2:INIT]"}),
		f.kind_as("mount", {"syscall": "umount2", "source": "", "target": "/proc", "fstype": "", "flags": 0, "result": 0}, {}),
		f.exec("/usr/sbin/debugfs-helper", ["debugfs-helper"]),
		f.host(mount("proc", "/tmp/p", "proc", 0)),
	])) == 0
}
