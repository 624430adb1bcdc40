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

# O_RDONLY with any combination of O_CLOEXEC, O_LARGEFILE, O_NONBLOCK and O_DIRECTORY, and none of them a write.
test_read_only_flags_are_read_only_opens if {
	attack.read_only_flags == {f |
		some cloexec in [0, 524288]
		some largefile in [0, 32768]
		some nonblock in [0, 2048]
		some directory in [0, 65536]
		f := ((cloexec + largefile) + nonblock) + directory
	}
	every f in attack.read_only_flags {
		bits.and(f, attack.o_write_bits) == 0
	}
}

test_write_intent if {
	every flags in [1, 2, 3, 64, 512, 577, 1089, 524865, 524353, 525377] {
		attack.write_intent(flags)
	}
	every flags in [0, 524288, 32768, 65536, 557056, 1024, 4096, 256, 131072, 2621440] {
		not attack.write_intent(flags)
	}
}
