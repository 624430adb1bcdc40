# METADATA
# title: Tuning applied to every rule's alerts
# description: >-
#   Reads data.palisade.tuning (the evaluator loads it from --tuning and merges it over the bundle's data; format in
#   policies/README.md "Tuning") and decides, per alert, what main.rego publishes: nothing for a disabled rule, the
#   overridden severity, and the name of the exception that matched, if any. Everything is keyed by the alert's own
#   rule_id, so an exception or a setting for one rule can never change another rule's alerts. An exception field
#   this file does not know never matches: a typo quiets nothing (the evaluator refuses such files anyway).
# scope: package
package palisade.lib.tuning

import data.palisade.lib.macros

# The fields an exception may match on; all given fields must match (AND), any value of a field may (OR).
fields := {"namespace", "workload", "image", "binary", "path", "parent", "user"}

# Enabled unless the tuning says enabled: false.
enabled(rule_id) if not data.palisade.tuning.rules[rule_id].enabled == false

# The alert as main.rego publishes it: the rule's {index, rule_id, message}, plus "severity" when the tuning
# overrides it, plus "excepted_by" (the first matching exception's name, by name order) when an exception matched:
# the evaluator counts those and drops them, so a silenced alert is still visible in a metric.
decide(alert, e) := object.union(alert, object.union(severity_override(alert.rule_id), exception_hit(alert.rule_id, e)))

severity_override(rule_id) := {"severity": s} if {
	s := data.palisade.tuning.rules[rule_id].severity
} else := {}

exception_hit(rule_id, e) := {"excepted_by": sort(names)[0]} if {
	names := {x.name | some x in exceptions(rule_id); matches(x, e)}
	count(names) > 0
} else := {}

# The rule's own exceptions, and the global ones that name it in their `rules` list (there is no wildcard: a global
# exception reaches exactly the rules it lists).
exceptions(rule_id) := array.concat(own_exceptions(rule_id), [x |
	some x in data.palisade.tuning.exceptions
	rule_id in x.rules
])

own_exceptions(rule_id) := xs if {
	xs := data.palisade.tuning.rules[rule_id].exceptions
} else := []

# Every field given must match; an exception without any field matches nothing (it would silence the whole rule:
# that is enabled: false), and one with a key this file does not know matches nothing rather than too much.
matches(x, e) if {
	given := {f | some f, _ in x; f in fields}
	count(given) > 0
	not unknown_key(x)
	every f in given {
		field_matches(f, values(x[f]), e)
	}
}

unknown_key(x) if {
	some f, _ in x
	not f in (fields | {"name", "rules", "reason"})
}

values(v) := v if is_array(v)

else := [v]

field_matches("namespace", want, e) if {
	some w in want
	pattern(w, e.pod.namespace)
}

field_matches("workload", want, e) if {
	some w in want
	workload_matches(w, e.pod.owner)
}

field_matches("image", want, e) if {
	some w in want
	image_matches(w, e.pod.image)
}

field_matches("binary", want, e) if {
	some w in want
	program_matches(w, binaries(e), macros.proc_names(e))
}

field_matches("parent", want, e) if {
	some w in want
	program_matches(w, {object.get(e.process, "parent_binary", "")}, macros.parent_names(e))
}

field_matches("path", want, e) if {
	some w in want
	some p in paths(e)
	path_matches(w, p)
}

field_matches("user", want, e) if {
	some w in want
	w == e.process.uid
}

glob_chars := {"*", "?", "["}

is_glob(w) if {
	some c in glob_chars
	contains(w, c)
}

# A value is compared exactly, or as a glob when it has * ? or [..]: * matches any run of characters, "/" included.
pattern(w, v) if {
	not is_glob(w)
	w == v
}

pattern(w, v) if {
	is_glob(w)
	glob.match(w, null, v)
}

# "Deployment/web" (kind and name), or "web" (any kind); either part may be a glob.
workload_matches(w, owner) if {
	contains(w, "/")
	parts := split(w, "/")
	count(parts) == 2
	pattern(parts[0], owner.kind)
	pattern(parts[1], owner.name)
}

workload_matches(w, owner) if {
	not contains(w, "/")
	pattern(w, owner.name)
}

# The whole reference, a glob over it, or the repository alone: "registry.example.com/shop/web" matches every tag and
# digest of that image, never "registry.example.com/shop/web-admin".
image_matches(w, image) if pattern(w, image)

image_matches(w, image) if {
	not is_glob(w)
	w == image_repository(image)
}

# Strips "@sha256:…" and then a ":tag" after the last "/" (a ":port" in the registry host is not a tag).
image_repository(image) := repo if {
	ref := split(image, "@")[0]
	parts := split(ref, "/")
	last := parts[count(parts) - 1]
	name := split(last, ":")[0]
	repo := concat("/", array.concat(array.slice(parts, 0, count(parts) - 1), [name]))
}

# A value with a "/" is a path (exact or glob) compared with the binaries; without, a program name compared with the
# names (basename of the binary, and the comm).
program_matches(w, paths, _) if {
	contains(w, "/")
	some p in paths
	p != ""
	pattern(w, p)
}

program_matches(w, _, names) if {
	not contains(w, "/")
	some n in names
	pattern(w, n)
}

binaries(e) := {b | some b in [object.get(e.process, "binary", ""), object.get(e, ["exec", "filename"], "")]; b != ""}

# The paths an event is about: what was opened, unlinked, renamed (both names), chmod'ed, mounted or executed.
paths(e) := {p |
	some p in [
		object.get(e, ["file_open", "path"], ""),
		object.get(e, ["file_op", "path"], ""),
		object.get(e, ["file_op", "new_path"], ""),
		object.get(e, ["mount", "target"], ""),
		object.get(e, ["exec", "filename"], ""),
	]
	p != ""
}

# A plain value is a directory or file and matches it and everything below it ("/var/log" matches "/var/log/x",
# never "/var/logs"); a glob is matched as given.
path_matches(w, p) if {
	not is_glob(w)
	macros.under(p, w)
}

path_matches(w, p) if {
	is_glob(w)
	glob.match(w, null, p)
}
