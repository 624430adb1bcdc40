# METADATA
# title: Search for keys or passwords with find or grep in a container
# description: >-
#   find (or locate) run with a name pattern for private keys, cloud or cluster credentials, wallets or password
#   files (-name id_rsa, -name "*.pem", -name credentials, -path "*/.aws/*"), or grep (egrep, fgrep, rg, ag, ack)
#   searching recursively (-r, -R, --recursive, or any tool that recurses by default) for passwords, secrets,
#   API keys or private-key headers. The arguments are what a hunt looks like; the kernel cannot tell intent, so
#   this is an argv heuristic. Not covered: the same search written in a script language, or a pattern read from a
#   file (grep -f). A plain grep of one named file (grep root /etc/passwd) does not fire.
# related_resources:
#   - ref: https://attack.mitre.org/techniques/T1552/001/
# scope: package
# custom:
#   id: PAL-014
#   severity: medium
#   mitre: T1552.001
#   actions: []
#   event_kinds: [exec]
package palisade.rules.pal_014

import data.palisade.lib
import data.palisade.lib.attack

finders := {"find", "locate", "mlocate", "plocate", "fd"}

greps := {"grep", "egrep", "fgrep"}

# These recurse without a flag.
recursive_greps := {"rg", "ag", "ack"}

key_names := `id_(rsa|dsa|ecdsa|ed25519)|\.pem\b|\.key\b|\.p12\b|\.pfx\b|\.kdbx\b|authorized_keys|\.aws\b|\.kube\b|\.docker/config|credentials|wallet\.dat|\.git-credentials|\.netrc|\.pgpass|passw(or)?d|shadow`

secret_words := `passw(or)?d|secret|api[_-]?key|access[_-]?key|private key|aws_secret|bearer|token`

alerts contains {"index": i, "rule_id": "PAL-014", "message": msg} if {
	some i, e in input.events
	e.kind == "exec"
	attack.in_container(e)
	tool := attack.exec_name(e)
	hunting(tool, e.exec.argv)
	msg := sprintf("%s (pid %d) searched for credentials: %s in %s", [tool, e.process.pid, concat(" ", e.exec.argv), lib.workload(e)])
}

hunting(tool, argv) if {
	tool in finders
	args := lower(concat(" ", array.slice(argv, 1, count(argv))))
	regex.match(key_names, args)
}

hunting(tool, argv) if {
	tool in greps
	recursive(argv)
	args := lower(concat(" ", array.slice(argv, 1, count(argv))))
	regex.match(secret_words, args)
}

hunting(tool, argv) if {
	tool in recursive_greps
	args := lower(concat(" ", array.slice(argv, 1, count(argv))))
	regex.match(secret_words, args)
}

recursive(argv) if {
	some a in argv
	regex.match(`^(-[a-zA-Z]*[rR][a-zA-Z]*|--recursive|--dereference-recursive|-d=?recurse)$`, a)
}
