# Input events for the attack rules' tests (PAL-010 .. PAL-039), built on palisade.lib.fixtures. A _test.rego file so
# `opa build` leaves it out of the bundle.
package palisade.lib.attack_fixtures

import data.palisade.lib.fixtures

o_rdonly := 0

# O_WRONLY | O_CREAT | O_TRUNC: what `echo x > file` opens with.
o_write := 577

# O_WRONLY | O_CREAT | O_APPEND: `echo x >> file`.
o_append := 1089

# O_RDWR
o_rdwr := 2

open_as(path, flags, proc) := fixtures.event("file_open", proc, {
	"path": path, "flags": flags, "result": 3, "syscall": "openat",
	"sensitive_write": false, "requested_path": "", "path_resolution": "kernel",
})

open(path, flags) := open_as(path, flags, {"comm": "sh", "binary": "/bin/sh"})

file_op(syscall, path, new_path, mode) := fixtures.event("file_op", {"comm": "sh", "binary": "/bin/sh"}, {
	"syscall": syscall, "path": path, "new_path": new_path, "dfd": -100, "flags": 0, "mode": mode,
	"uid": -1, "gid": -1, "result": 0, "requested_path": "", "requested_new_path": "",
	"path_resolution": 2, "path_truncated": false,
})

rename(from, to) := file_op("renameat2", from, to, 0)

chmod(path, mode) := file_op("fchmodat", path, "", mode)

chown(path) := file_op("fchownat", path, "", 0)

unlink(path) := file_op("unlinkat", path, "", 0)

# exec of filename with argv; comm and binary follow the file as the kernel sets them.
exec(filename, argv) := exec_with(filename, argv, {})

exec_with(filename, argv, proc) := fixtures.event(
	"exec", object.union(
		{"comm": substring(basename(filename), 0, 15), "binary": filename, "parent_comm": "sh", "ancestors": []},
		proc,
	),
	{"filename": filename, "argv": argv, "cwd": "/app", "from_memfd": false, "cap_effective": 0},
)

basename(path) := name if {
	parts := split(path, "/")
	name := parts[count(parts) - 1]
}

kind(k, payload) := fixtures.event(k, {"comm": "python3", "binary": "/usr/bin/python3"}, payload)

kind_as(k, payload, proc) := fixtures.event(k, object.union({"comm": "python3", "binary": "/usr/bin/python3"}, proc), payload)

connect(daddr, dport) := fixtures.net_connect(daddr, dport)

connect6(daddr, dport) := object.union(fixtures.net_connect(daddr, dport), {"net_connect": {
	"family": "inet6", "daddr": daddr, "dport": dport, "result": -115,
}})

dns(name) := fixtures.event("dns_query", {"comm": "curl", "binary": "/usr/bin/curl"}, {
	"name": name, "qtype": 1, "qtype_name": "A", "id": 4660, "family": 2, "daddr": "10.96.0.10", "dport": 53,
	"syscall": "sendto",
})

host(ev) := fixtures.host(ev)

unenriched(ev) := fixtures.unenriched(ev)

pod := "pod shop/web-7d9f8c6b5-x2x4q"
