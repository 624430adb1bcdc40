package palisade.lib.attack_test

import data.palisade.lib.attack
import data.palisade.lib.attack_fixtures as f

# The batch's changes by container processes, keyed by the event's index: reads, unlinks, host processes and other
# kinds are not changes.
test_container_changes_by_index if {
	got := attack.container_changes with input as {"events": [
		f.open("/etc/hosts", f.o_rdonly),
		f.open("/etc/cron.d/job", f.o_write),
		f.host(f.open("/etc/cron.d/job", f.o_write)),
		f.unlink("/etc/passwd"),
		f.rename("/tmp/x", "/etc/passwd"),
		f.exec("/bin/sh", ["sh"]),
		f.chmod("/usr/bin/x", 2541),
	]}
	got == {
		1: {"path": "/etc/cron.d/job", "how": "opened /etc/cron.d/job for writing"},
		4: {"path": "/etc/passwd", "how": "renamed /tmp/x to /etc/passwd"},
		6: {"path": "/usr/bin/x", "how": "changed the mode of /usr/bin/x"},
	}
}
