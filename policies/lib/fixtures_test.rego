# Events in the Rego input shape (policies/README.md) for the rules' tests. A _test.rego file so `opa build` leaves it
# out of the bundle.
package palisade.lib.fixtures

container := {
	"id": "3f4e1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f",
	"runtime": "containerd",
}

pod := {
	"namespace": "shop",
	"name": "web-7d9f8c6b5-x2x4q",
	"uid": "6a1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
	"labels": {"app": "web"},
	"owner": {"kind": "Deployment", "name": "web"},
	"image": "registry.example.com/shop/web:1.4.2",
	"container_name": "web",
}

# An unprivileged process in the web container whose parent is the application server.
process := {
	"pid": 4242,
	"ppid": 4200,
	"uid": 1000,
	"euid": 1000,
	"gid": 1000,
	"comm": "cat",
	"parent_comm": "python3",
	"binary": "/usr/bin/cat",
	"cgroup_id": 73912,
}

# event builds one input event of the given kind in the web pod: proc overrides process fields, payload is the
# kind-specific object (exec, exit, file_open or net_connect).
event(kind, proc, payload) := {
	"kind": kind,
	"time_unix_nano": 1700000000123456789,
	"node": "node-a",
	"process": object.union(process, proc),
	kind: payload,
	"container": container,
	"pod": pod,
}

# A process outside any container cgroup.
host(ev) := object.union(ev, {"container": null, "pod": null})

# A container process whose pod the enricher did not find.
unenriched(ev) := object.union(ev, {"pod": null})

file_open(path) := event("file_open", {}, {"path": path, "flags": 0, "result": 3, "syscall": "openat"})

exec(filename, argv, proc) := event("exec", proc, {"filename": filename, "argv": argv})

net_connect(daddr, dport) := event(
	"net_connect",
	{"comm": "curl", "binary": "/usr/bin/curl"},
	{"family": "inet", "daddr": daddr, "dport": dport, "result": -115},
)
