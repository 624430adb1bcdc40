package palisade.rules.pal_010_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_010

alerts_for(events) := got if {
	got := pal_010.alerts with input as {"events": events}
}

cat(path) := f.open_as(path, f.o_rdonly, {"comm": "cat", "binary": "/usr/bin/cat"})

test_user_and_host_keys_fire if {
	alerts_for([
		cat("/home/app/.ssh/id_rsa"),
		cat("/root/.ssh/id_ed25519"),
		cat("/etc/ssh/ssh_host_ecdsa_key"),
	]) == {
		{"index": 0, "rule_id": "PAL-010", "message": "cat (pid 4242, uid 1000) read the SSH private key /home/app/.ssh/id_rsa in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-010", "message": "cat (pid 4242, uid 1000) read the SSH private key /root/.ssh/id_ed25519 in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-010", "message": "cat (pid 4242, uid 1000) read the SSH host key /etc/ssh/ssh_host_ecdsa_key in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

test_an_interpreter_copying_a_key_fires if {
	count(alerts_for([f.open_as("/tmp/x/.ssh/id_ecdsa_sk", f.o_rdonly, {})])) == 1
}

test_near_misses_do_not_fire if {
	count(alerts_for([
		cat("/home/app/.ssh/id_rsa.pub"),
		cat("/etc/ssh/ssh_host_rsa_key.pub"),
		cat("/home/app/.ssh/known_hosts"),
		cat("/home/app/.ssh/config"),
		cat("/home/app/ssh/id_rsa"),
		cat("/etc/ssh/sshd_config"),
		f.open_as("/home/app/.ssh/id_rsa", f.o_rdonly, {"comm": "ssh", "binary": "/usr/bin/ssh"}),
		f.open_as("/etc/ssh/ssh_host_rsa_key", f.o_rdonly, {"comm": "sshd", "binary": "/usr/sbin/sshd"}),
		f.host(cat("/root/.ssh/id_rsa")),
		f.exec("/usr/bin/cat", ["cat", "/root/.ssh/id_rsa"]),
	])) == 0
}
