# METADATA
# title: File written below a system directory in a container
# description: >-
#   A process in a container opened for writing (O_WRONLY, O_RDWR, O_CREAT or O_TRUNC), renamed onto, or changed
#   the mode or owner of a file below /etc, /bin, /sbin, /usr, /lib, /lib32, /lib64, /libx32, /boot or /root:
#   a dropped or replaced binary, a changed configuration, a planted library. Containers run from an immutable
#   image; what changes these directories at run time is drift. Failed attempts count (a read-only root shows the
#   intent). Left alone, and documented: a system package manager's lineage (PAL-034 reports it), Python writing
#   its byte-code cache (__pycache__/*.pyc), and below /root the per-user caches and histories that tools keep
#   there when a container runs as root (.cache, .npm, .m2, .gradle, .yarn, .node-gyp, .cargo/registry, go/pkg,
#   .local/lib, *_history, .lesshst, .viminfo, .wget-hsts). Paths with a rule of their own (cron, systemd units,
#   authorized_keys, shell rc files, /etc/ld.so.preload, the account databases: PAL-016..021) are theirs, so
#   one write gives one alert.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1554/
# scope: package
# custom:
#   id: PAL-015
#   severity: medium
#   mitre: T1554
#   actions: []
#   event_kinds: [file_open, file_op]
package palisade.rules.pal_015

import data.palisade.lib
import data.palisade.lib.attack

system_dirs := {"/etc", "/bin", "/sbin", "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/boot", "/root"}

root_caches := {
	"/root/.cache", "/root/.npm", "/root/.m2", "/root/.gradle", "/root/.yarn", "/root/.node-gyp",
	"/root/.cargo/registry", "/root/go/pkg", "/root/.local/lib",
}

root_histories := {".lesshst", ".viminfo", ".wget-hsts"}

alerts contains {"index": i, "rule_id": "PAL-015", "message": msg} if {
	some i, c in attack.container_changes
	e := input.events[i]
	attack.below_any(c.path, system_dirs)
	not attack.specific_persistence(c.path)
	not attack.package_manager_lineage(e)
	not expected(e, c.path)
	msg := sprintf("%s %s in %s", [attack.who(e), c.how, lib.workload(e)])
}

expected(e, path) if {
	startswith(e.process.comm, "python")
	contains(path, "/__pycache__/")
	endswith(path, ".pyc")
}

expected(_, path) if attack.below_any(path, root_caches)

expected(_, path) if {
	attack.below(path, "/root")
	name := lib.basename(path)
	count(split(trim_prefix(path, "/root/"), "/")) == 1
	history(name)
}

history(name) if name in root_histories

history(name) if endswith(name, "_history")
