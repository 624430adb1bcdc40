package palisade.lib.lists_test

import data.palisade.lib.lists

# The lists are sets of basenames or absolute paths: a typo like "/bin/sh" in a name list would never match.
test_name_lists_hold_basenames_only if {
	names := ((((((lists.shells | lists.netcats) | lists.network_tools) | lists.downloaders) | lists.package_managers) | lists.miners) | lists.container_runtimes) | lists.container_inits
	count([n | some n in names; contains(n, "/")]) == 0
	count([n | some n in names; n == ""]) == 0
}

test_path_lists_hold_absolute_paths_without_trailing_slash if {
	paths := ((lists.credential_files | lists.credential_dirs) | lists.sensitive_dirs) | lists.temp_dirs
	count([p | some p in paths; not startswith(p, "/")]) == 0
	count([p | some p in paths; endswith(p, "/")]) == 0
}

test_sets_that_rules_rely_on if {
	{"sh", "bash", "dash", "zsh", "ash", "ksh"} - lists.shells == set()
	lists.netcats - lists.network_tools == set()
	lists.binary_dirs - lists.sensitive_dirs == set()
	"xmrig" in lists.miners
	"apt-get" in lists.package_managers
	not "busybox" in lists.shells
}
