# METADATA
# title: Lists and predicates shared by the attack rules (PAL-010 .. PAL-039)
# description: >-
#   What the rule library means by "opened for writing", "below a directory", "a shell", "a package manager", and
#   the persistence targets that have a rule of their own (so the catch-all PAL-015 stays quiet on them). Kernel
#   semantics, not strings: a write is an open with O_WRONLY/O_RDWR/O_CREAT/O_TRUNC, a rename onto the path, or a
#   chmod/chown of it, whatever the spelling of the path (file_open paths are kernel-resolved; file_op paths are
#   made absolute and folded).
# scope: package
package palisade.lib.attack

import data.palisade.lib

# O_ACCMODE (3: O_WRONLY or O_RDWR) | O_CREAT (0100) | O_TRUNC (01000): any of these bits is write intent.
o_write_bits := 579

shells := {"sh", "bash", "dash", "zsh", "ash", "ksh", "mksh", "csh", "tcsh", "fish", "busybox"}

# System package managers (a language package manager installing into a prefix is not one).
package_managers := {
	"apt", "apt-get", "aptitude", "dpkg", "apk", "yum", "dnf", "microdnf", "tdnf", "rpm", "zypper", "pacman",
}

# Processes that set a container up from inside its cgroup (runc's init is "runc:[2:INIT]").
runtime_process(comm) if startswith(comm, "runc")

runtime_process(comm) if comm in {"crun", "youki", "conmon"}

in_container(e) if e.container != null

# "cat (pid 4242, uid 1000)": who did it, for messages.
who(e) := sprintf("%s (pid %d, uid %d)", [e.process.comm, e.process.pid, e.process.uid])

# The open can change the file: write access, create or truncate.
# The flags of the usual read-only opens: O_RDONLY with any of O_CLOEXEC, O_LARGEFILE, O_NONBLOCK and O_DIRECTORY
# (attack_lists_test.rego checks it is exactly those and that none has a write bit). Nearly every open is one of
# these, and a set lookup is a fraction of what bits.and costs in the wasm (about 1.5 µs a call, once per file open).
read_only_flags := {
	0, 2048, 32768, 34816, 65536, 67584, 98304, 100352,
	524288, 526336, 557056, 559104, 589824, 591872, 622592, 624640,
}

write_intent(flags) if {
	not flags in read_only_flags
	bits.and(flags, o_write_bits) != 0
}

rename_syscalls := {"rename", "renameat", "renameat2"}

chmod_syscalls := {"chmod", "fchmodat", "fchmodat2"}

link_syscalls := {"link", "linkat", "symlink", "symlinkat"}

chown_syscalls := {"chown", "fchownat", "lchown"}

# change(e): the path an event changes (or tries to: failed attempts count) and a phrase saying how, for messages.
# A rename or a (sym)link changes its destination; unlink is not a change a persistence rule looks at.
change(e) := {"path": e.file_open.path, "how": sprintf("opened %s for writing", [e.file_open.path])} if {
	e.kind == "file_open"
	write_intent(e.file_open.flags)
} else := {"path": e.file_op.new_path, "how": sprintf("renamed %s to %s", [e.file_op.path, e.file_op.new_path])} if {
	e.kind == "file_op"
	e.file_op.syscall in rename_syscalls
} else := {"path": e.file_op.new_path, "how": sprintf("linked %s as %s", [e.file_op.path, e.file_op.new_path])} if {
	# A hard link or symlink puts content in place under the new name without any open of it for writing.
	e.kind == "file_op"
	e.file_op.syscall in link_syscalls
} else := {"path": e.file_op.path, "how": sprintf("changed the mode of %s", [e.file_op.path])} if {
	e.kind == "file_op"
	e.file_op.syscall in chmod_syscalls
} else := {"path": e.file_op.path, "how": sprintf("changed the owner of %s", [e.file_op.path])} if {
	e.kind == "file_op"
	e.file_op.syscall in chown_syscalls
}

# Strictly below dir ("/etc" -> "/etc/x", not "/etc" nor "/etcx").
# The changes (change above) that container processes make in this batch, by event index. The persistence rules
# (PAL-015..021, PAL-027) iterate this instead of every event: it is computed once per evaluation, where calling
# change(e) in each rule cost each rule a few microseconds per file event (issue 9, "Measure and report").
container_changes[i] := c if {
	some i, e in input.events
	e.kind in {"file_open", "file_op"}
	in_container(e)
	c := change(e)
}

below(path, dir) if startswith(path, concat("", [dir, "/"]))

below_any(path, dirs) if {
	some d in dirs
	below(path, d)
}

# The process or one of its known ancestors is a system package manager: what it writes is its job, and
# PAL-034 has already reported that it ran.
package_manager_lineage(e) if e.process.comm in package_managers

package_manager_lineage(e) if {
	some a in e.process.ancestors
	a.comm in package_managers
}

# The process's own name: comm, else the binary's basename (a busybox applet's comm is the applet).
names(e) := {e.process.comm, lib.basename(e.process.binary)}

argv_text(e) := lower(concat(" ", e.exec.argv))

exec_name(e) := lib.basename(e.exec.filename)

loopback(addr) if startswith(addr, "127.")

loopback("::1")

loopback(addr) if startswith(addr, "::ffff:127.")

# Persistence targets with a rule of their own.
cron_path(p) if p in {"/etc/crontab", "/etc/anacrontab"}

cron_path(p) if below_any(p, {
	"/etc/cron.d", "/etc/cron.hourly", "/etc/cron.daily", "/etc/cron.weekly", "/etc/cron.monthly",
	"/var/spool/cron", "/var/spool/anacron",
})

systemd_unit_dirs := {
	"/etc/systemd/system", "/etc/systemd/user", "/lib/systemd/system", "/lib/systemd/user",
	"/usr/lib/systemd/system", "/usr/lib/systemd/user", "/run/systemd/system", "/usr/local/lib/systemd/system",
}

systemd_path(p) if below_any(p, systemd_unit_dirs)

systemd_path(p) if contains(p, "/.config/systemd/user/")

authorized_keys_path(p) if lib.basename(p) in {"authorized_keys", "authorized_keys2"}

rc_files := {
	".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".profile", ".zshrc", ".zprofile", ".zshenv",
	".zlogin", ".kshrc", ".cshrc", ".tcshrc", ".mkshrc",
}

system_rc_files := {
	"/etc/profile", "/etc/bash.bashrc", "/etc/bashrc", "/etc/environment", "/etc/zshrc", "/etc/zprofile",
	"/etc/zshenv", "/etc/zsh/zshrc", "/etc/zsh/zprofile", "/etc/zsh/zshenv", "/etc/csh.cshrc", "/etc/csh.login",
}

shell_rc_path(p) if lib.basename(p) in rc_files

shell_rc_path(p) if p in system_rc_files

shell_rc_path(p) if below(p, "/etc/profile.d")

ld_preload_path("/etc/ld.so.preload")

# The account databases, their backups ("-"), shadow-utils' temporaries ("+") and locks.
account_path(p) if regex.match(`^/etc/(\.pwd\.lock|(passwd|shadow|group|gshadow|subuid|subgid)([-+]|\.lock)?)$`, p)

specific_persistence(p) if cron_path(p)

specific_persistence(p) if systemd_path(p)

specific_persistence(p) if authorized_keys_path(p)

specific_persistence(p) if shell_rc_path(p)

specific_persistence(p) if ld_preload_path(p)

specific_persistence(p) if account_path(p)

# CAP_* names by bit number (linux/capability.h).
cap_names := [
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
	"CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO",
	"CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]

# "CAP_NET_RAW, CAP_SYS_ADMIN" for a mask (bits past the table are shown as "cap<N>").
cap_list(mask) := concat(", ", [name |
	some i in numbers.range(0, 47)
	bits.and(mask, bits.lsh(1, i)) != 0
	name := cap_name(i)
])

cap_name(i) := cap_names[i]

cap_name(i) := sprintf("cap%d", [i]) if not cap_names[i]
