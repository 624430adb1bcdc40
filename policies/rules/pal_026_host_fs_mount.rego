# METADATA
# title: Host filesystem, proc, cgroupfs or debugfs mounted in a container (or debugfs run)
# description: >-
#   mount in a container of a kernel filesystem that reaches past the container (proc, sysfs, cgroup, cgroup2,
#   debugfs, tracefs, securityfs, bpf, configfs), of a block device (a source below /dev/ with a disk filesystem
#   type: the host's disk), or a bind mount of /, /proc, /sys, /dev or /var/run (/run), or of a credential path
#   (/etc, /root, ~/.ssh, the secrets mount: the bound files get names no path rule knows); or an exec of debugfs,
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
	m.syscall in {"mount", "open_tree", "fsopen"}
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
	bind(m)
	trim_right(m.source, "/") in bind_sources
} else := {"a bind of a host path"} if {
	bind(m)
	m.source == "/"
} else := {"a bind of a credential path (its files get a name no path rule knows)"} if {
	# /etc bound at /mnt/x makes /etc/shadow readable as /mnt/x/shadow: the kernel-resolved path of the read is
	# the new name, so PAL-001 and PAL-010 see nothing. The bind itself is the signal.
	bind(m)
	credential_bind_source(trim_right(m.source, "/"))
} else := set()

# mount(2) with MS_BIND, or the new mount API's open_tree(OPEN_TREE_CLONE): a detached copy of the tree at source,
# which move_mount then attaches anywhere (fsopen names a new filesystem's type: the kernel_fs check covers it).
bind(m) if {
	m.syscall == "mount"
	bits.and(m.flags, ms_bind) != 0
}

bind(m) if {
	m.syscall == "open_tree"
	bits.and(m.flags, open_tree_clone) != 0
}

open_tree_clone := 1

credential_bind_sources := {"/etc", "/etc/ssh", "/etc/sudoers.d", "/root", "/root/.ssh", "/home", "/var/run/secrets", "/run/secrets"}

credential_bind_source(src) if src in credential_bind_sources

credential_bind_source(src) if src in {"/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/passwd"}

credential_bind_source(src) if contains(src, "/.ssh/")

alerts contains {"index": i, "rule_id": "PAL-026", "message": msg} if {
	some i, e in input.events
	e.kind == "exec"
	attack.in_container(e)
	attack.exec_name(e) == "debugfs"
	msg := sprintf("%s (pid %d, uid %d) ran the filesystem debugger: %s in %s", [
		e.exec.filename, e.process.pid, e.process.uid, concat(" ", e.exec.argv), lib.workload(e),
	])
}
