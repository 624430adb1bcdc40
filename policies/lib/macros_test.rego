package palisade.lib.macros_test

import data.palisade.lib.fixtures
import data.palisade.lib.macros

open_with(flags) := object.union(fixtures.file_open("/etc/passwd"), {"file_open": {
	"path": "/etc/passwd", "flags": flags, "result": 3, "syscall": "openat",
}})

test_in_container_is_the_cgroups_verdict if {
	macros.in_container(fixtures.file_open("/x"))
	macros.in_container(fixtures.unenriched(fixtures.file_open("/x")))
	not macros.in_container(fixtures.host(fixtures.file_open("/x")))
	macros.on_host(fixtures.host(fixtures.file_open("/x")))
}

test_spawned_process_and_opened_file_check_the_kind if {
	macros.spawned_process(fixtures.exec("/bin/ls", ["ls"], {}))
	not macros.spawned_process(fixtures.file_open("/bin/ls"))
	macros.opened_file(fixtures.file_open("/bin/ls"))
	not macros.opened_file(fixtures.exec("/bin/ls", ["ls"], {}))
}

test_opened_for_write_by_access_mode_create_or_truncate if {
	macros.opened_for_write(open_with(1)) # O_WRONLY
	macros.opened_for_write(open_with(2)) # O_RDWR
	macros.opened_for_write(open_with(64)) # O_RDONLY|O_CREAT
	macros.opened_for_write(open_with(512)) # O_RDONLY|O_TRUNC
	macros.opened_for_write(open_with(524353)) # O_WRONLY|O_CREAT|O_CLOEXEC
	not macros.opened_for_write(open_with(0))
	not macros.opened_for_write(open_with(524288)) # O_RDONLY|O_CLOEXEC
	not macros.opened_for_write(open_with(1024)) # O_RDONLY|O_APPEND: cannot write
	macros.opened_for_read(open_with(524288))
	not macros.opened_for_read(open_with(1))
	not macros.opened_for_write(fixtures.exec("/bin/ls", ["ls"], {}))
}

test_open_succeeded if {
	macros.open_succeeded(open_with(0))
	failed := object.union(open_with(0), {"file_open": {"result": -13}})
	not macros.open_succeeded(failed)
}

test_proc_name_prefers_the_file_name_then_the_binary_then_comm if {
	macros.proc_name(fixtures.exec("/tmp/.x/bash", ["bash"], {"comm": "kworker"})) == "bash"
	macros.proc_name(fixtures.file_open("/x")) == "cat"
	ev := fixtures.file_open("/x")
	macros.proc_name(object.union(ev, {"process": object.union(ev.process, {"binary": ""})})) == "cat"
	macros.proc_names(fixtures.exec("/tmp/.x", ["x"], {"comm": "bash"})) == {".x", "bash"}
}

test_parent_name_prefers_the_binary if {
	macros.parent_name(fixtures.exec("/bin/sh", ["sh"], {"parent_comm": "x", "parent_binary": "/usr/bin/python3"})) == "python3"
	macros.parent_name(fixtures.exec("/bin/sh", ["sh"], {"parent_comm": "node"})) == "node"
	macros.parent_names(fixtures.exec("/bin/sh", ["sh"], {"parent_comm": ""})) == set()
}

test_shells_by_name_or_comm if {
	macros.proc_is_shell(fixtures.exec("/bin/bash", ["bash"], {"comm": "bash"}))
	macros.proc_is_shell(fixtures.exec("/tmp/.x", ["x"], {"comm": "bash"}))
	not macros.proc_is_shell(fixtures.exec("/usr/bin/bashbug", ["bashbug"], {"comm": "bashbug"}))
	macros.parent_is_shell(fixtures.exec("/bin/ls", ["ls"], {"parent_comm": "dash"}))
	not macros.parent_is_shell(fixtures.exec("/bin/ls", ["ls"], {"parent_comm": "python3"}))
}

test_container_start_parents if {
	every comm in ["runc", "runc:[2:INIT]", "containerd-shim", "containerd-shim-runc-v2", "conmon", "crun", "tini", "dumb-init", "docker-init", "catatonit"] {
		macros.parent_is_container_start(fixtures.exec("/bin/sh", ["sh"], {"parent_comm": comm}))
	}
	not macros.parent_is_container_start(fixtures.exec("/bin/sh", ["sh"], {"parent_comm": "python3"}))
	not macros.parent_is_container_start(fixtures.exec("/bin/sh", ["sh"], {"parent_comm": "trunc"}))
}

test_under_and_below_respect_path_components if {
	macros.under("/etc", "/etc")
	macros.under("/etc/passwd", "/etc")
	macros.under("/etc/passwd", "/etc/")
	not macros.under("/etcd/x", "/etc")
	macros.below("/etc/sudoers.d/x", "/etc/sudoers.d")
	not macros.below("/etc/sudoers.d", "/etc/sudoers.d")
	not macros.below("/etc/sudoers.d/", "/etc/sudoers.d")
	macros.under_any("/usr/bin/ls", {"/bin", "/usr/bin"})
	not macros.under_any("/usr/binx", {"/bin", "/usr/bin"})
}

test_loopback if {
	every a in ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"] {
		macros.loopback(a)
	}
	not macros.loopback("10.0.0.1")
	not macros.loopback("::ffff:10.0.0.1")
	not macros.loopback("1270::1")
}

test_gained_root if {
	macros.gained_root(fixtures.exec("/usr/bin/su", ["su"], {"uid": 1000, "euid": 0}))
	not macros.gained_root(fixtures.exec("/usr/bin/su", ["su"], {"uid": 0, "euid": 0}))
	not macros.gained_root(fixtures.exec("/usr/bin/su", ["su"], {"uid": 1000, "euid": 1000}))
}
