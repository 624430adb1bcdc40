# METADATA
# title: Host filesystem, proc, cgroupfs or debugfs mounted in a container (or debugfs run)
# description: >-
#   mount in a container of a kernel filesystem that reaches past the container (proc, sysfs, cgroup, cgroup2,
#   debugfs, tracefs, securityfs, bpf, configfs), of a block device (a source below /dev/ with a disk filesystem
#   type: the host's disk), or a bind mount of /, /proc, /sys, /dev or /var/run (/run); or an exec of debugfs,
#   e2fsprogs' disk editor that reads any file of an ext filesystem off the raw device. Attempts count (the
#   syscall is reported before its result: an unprivileged container gets EPERM, and the attempt is the signal).
#   The runtime's own setup (runc's init mounts proc, sysfs and cgroup in the container cgroup) is left alone.
#   tmpfs, overlay, mqueue, devpts and the propagation changes unshare -m makes (no type, source none) do not fire.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1611/
# scope: package
# custom:
#   id: PAL-026
#   severity: high
#   mitre: T1611
#   actions: []
#   event_kinds: [mount, exec]
package palisade.rules.pal_026

import data.palisade.lib
import data.palisade.lib.attack

kernel_fs := {"proc", "sysfs", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs", "bpf", "configfs"}

disk_fs := {"ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "ntfs", "ntfs3", "f2fs", "jfs", "reiserfs", "zfs", "iso9660"}

bind_sources := {"/", "/proc", "/sys", "/dev", "/run", "/var/run"}

ms_bind := 4096

alerts contains {"index": i, "rule_id": "PAL-026", "message": msg} if {
	some i, e in input.events
	e.kind == "mount"
	attack.in_container(e)
	m := e.mount
	m.syscall == "mount"
	not attack.runtime_process(e.process.comm)
	some what in mounts_what(m)
	msg := sprintf("%s mounted %s (%s on %s, result %d) in %s", [attack.who(e), what, m.source, m.target, m.result, lib.workload(e)])
}

mounts_what(m) := {sprintf("a %s filesystem", [m.fstype])} if {
	m.fstype in kernel_fs
} else := {sprintf("a host disk (%s)", [m.fstype])} if {
	startswith(m.source, "/dev/")
	m.fstype in disk_fs
} else := {"a bind of a host path"} if {
	bits.and(m.flags, ms_bind) != 0
	trim_right(m.source, "/") in bind_sources
} else := {"a bind of a host path"} if {
	bits.and(m.flags, ms_bind) != 0
	m.source == "/"
} else := set()

alerts contains {"index": i, "rule_id": "PAL-026", "message": msg} if {
	some i, e in input.events
	e.kind == "exec"
	attack.in_container(e)
	attack.exec_name(e) == "debugfs"
	msg := sprintf("%s (pid %d, uid %d) ran the filesystem debugger: %s in %s", [
		e.exec.filename, e.process.pid, e.process.uid, concat(" ", e.exec.argv), lib.workload(e),
	])
}
