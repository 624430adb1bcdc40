# METADATA
# title: Log file wiped or removed below /var/log in a container
# description: >-
#   A process in a container emptied an existing file below /var/log (an open whose O_TRUNC emptied it:
#   file_open.truncated_existing, as `> /var/log/auth.log` does; truncate or ftruncate to length 0), or removed
#   or renamed away a live log file (unlink, rename whose source is below /var/log). Left alone: log rotators
#   (logrotate, savelog, newsyslog, and their children such as gzip; logrotate's copytruncate is a truncation),
#   an application's own in-place rotation (a rename of app.log to app.log.1 or app.log-20260101 and the removal
#   of such rotated or compressed archives), and appending writers (an O_APPEND open truncates nothing). Not
#   caught: shortening a log to a non-zero length, rewriting its lines in place, or a log outside /var/log.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1070/002/
# scope: package
# custom:
#   id: PAL-043
#   severity: high
#   mitre: T1070.002
#   actions: []
#   event_kinds: [file_open, file_op]
package palisade.rules.pal_043

import data.palisade.lib
import data.palisade.lib.attack

log_rotators := {"logrotate", "savelog", "newsyslog"}

alerts contains {"index": i, "rule_id": "PAL-043", "message": msg} if {
	some i, e in input.events
	attack.in_container(e)
	w := wipe(e)
	attack.below(w.path, "/var/log")
	not rotator(e)
	msg := sprintf("%s %s in %s", [attack.who(e), w.how, lib.workload(e)])
}

wipe(e) := {"path": e.file_open.path, "how": sprintf("emptied %s (O_TRUNC)", [e.file_open.path])} if {
	e.kind == "file_open"
	object.get(e.file_open, "truncated_existing", false) == true
} else := {"path": e.file_op.path, "how": sprintf("truncated %s to 0 bytes (%s)", [e.file_op.path, e.file_op.syscall])} if {
	e.kind == "file_op"
	e.file_op.syscall in {"truncate", "ftruncate"}
	object.get(e.file_op, "length", -1) == 0
} else := {"path": e.file_op.path, "how": sprintf("removed %s", [e.file_op.path])} if {
	e.kind == "file_op"
	e.file_op.syscall in {"unlink", "unlinkat"}
	not archive(e.file_op.path)
} else := {"path": e.file_op.path, "how": sprintf("renamed %s to %s", [e.file_op.path, e.file_op.new_path])} if {
	e.kind == "file_op"
	e.file_op.syscall in attack.rename_syscalls
	not rotation_name(e.file_op.path, e.file_op.new_path)
}

rotator(e) if e.process.comm in log_rotators

rotator(e) if {
	some a in e.process.ancestors
	a.comm in log_rotators
}

# app.log.1, app.log.2.gz, app.log-20260101, app.log.gz: rotated copies, not the live log.
archive(path) if regex.match(`(\.[0-9]+|-[0-9]{8,10})(\.(gz|bz2|xz|zst|lz4))?$|\.(gz|bz2|xz|zst|lz4)$`, path)

rotation_name(from, to) if {
	startswith(to, concat("", [from, "."]))
	archive(to)
}

rotation_name(from, to) if {
	startswith(to, concat("", [from, "-"]))
	archive(to)
}

rotation_name(from, to) if {
	archive(from)
	archive(to)
}
