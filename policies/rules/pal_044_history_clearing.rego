# METADATA
# title: Shell history cleared in a container
# description: >-
#   A process in a container emptied, removed or replaced a shell history file (.bash_history, .zsh_history,
#   .ash_history, .sh_history, .ksh_history, .mksh_history, fish_history): an open that truncated it
#   (file_open.truncated_existing: `cp /dev/null ~/.bash_history`, `: > ~/.zsh_history` from another shell),
#   truncate/ftruncate to 0, unlink, a rename away, or a symlink put in its place (`ln -sf /dev/null
#   ~/.bash_history`, the symlink's new_path). Left alone: a shell rewriting its own history file, which bash and
#   zsh do on exit with O_TRUNC (bash on .bash_history, zsh on .zsh_history, ash/busybox on .ash_history), so
#   `> ~/.bash_history` typed in bash itself is not told apart and is missed. Not visible at all: `history -c`
#   and `unset HISTFILE` (shell-internal, no syscall), and HISTFILE=/dev/null or HISTSIZE=0 in the environment
#   (the kernel's exec scan keeps only the LD_* variables).
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1070/003/
# scope: package
# custom:
#   id: PAL-044
#   severity: medium
#   mitre: T1070.003
#   actions: []
#   event_kinds: [file_open, file_op]
package palisade.rules.pal_044

import data.palisade.lib
import data.palisade.lib.attack

# History file -> the shells that rewrite it themselves.
histories := {
	".bash_history": {"bash"},
	".zsh_history": {"zsh"},
	".ash_history": {"ash", "busybox", "sh"},
	".sh_history": {"sh", "ksh"},
	".ksh_history": {"ksh"},
	".mksh_history": {"mksh"},
	"fish_history": {"fish"},
}

alerts contains {"index": i, "rule_id": "PAL-044", "message": msg} if {
	some i, e in input.events
	attack.in_container(e)
	c := clearing(e)
	owners := histories[lib.basename(c.path)]
	not own_rewrite(e, c, owners)
	msg := sprintf("%s %s in %s", [attack.who(e), c.how, lib.workload(e)])
}

clearing(e) := {"path": e.file_open.path, "how": sprintf("emptied %s (O_TRUNC)", [e.file_open.path]), "open": true} if {
	e.kind == "file_open"
	object.get(e.file_open, "truncated_existing", false) == true
} else := {"path": e.file_op.path, "how": sprintf("truncated %s to 0 bytes", [e.file_op.path]), "open": false} if {
	e.kind == "file_op"
	e.file_op.syscall in {"truncate", "ftruncate"}
	object.get(e.file_op, "length", -1) == 0
} else := {"path": e.file_op.path, "how": sprintf("removed %s", [e.file_op.path]), "open": false} if {
	e.kind == "file_op"
	e.file_op.syscall in {"unlink", "unlinkat", "rename", "renameat", "renameat2"}
} else := {"path": e.file_op.new_path, "how": sprintf("replaced %s with a symlink to %s", [e.file_op.new_path, e.file_op.path]), "open": false} if {
	e.kind == "file_op"
	e.file_op.syscall in {"symlink", "symlinkat"}
}

own_rewrite(e, c, owners) if {
	c.open
	e.process.comm in owners
}
