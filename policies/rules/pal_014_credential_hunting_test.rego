package palisade.rules.pal_014_test

import data.palisade.lib.attack_fixtures as f
import data.palisade.rules.pal_014

alerts_for(events) := got if {
	got := pal_014.alerts with input as {"events": events}
}

test_hunts_fire if {
	alerts_for([
		f.exec("/usr/bin/find", ["find", "/", "-name", "id_rsa*", "-type", "f"]),
		f.exec("/usr/bin/grep", ["grep", "-rni", "password", "/app"]),
		f.exec("/usr/bin/find", ["find", "/home", "-path", "*/.aws/*"]),
		f.exec("/usr/bin/rg", ["rg", "-i", "aws_secret_access_key", "/"]),
		f.exec("/bin/grep", ["grep", "--recursive", "BEGIN RSA PRIVATE KEY", "/"]),
	]) == {
		{"index": 0, "rule_id": "PAL-014", "message": "find (pid 4242) searched for credentials: find / -name id_rsa* -type f in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 1, "rule_id": "PAL-014", "message": "grep (pid 4242) searched for credentials: grep -rni password /app in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 2, "rule_id": "PAL-014", "message": "find (pid 4242) searched for credentials: find /home -path */.aws/* in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 3, "rule_id": "PAL-014", "message": "rg (pid 4242) searched for credentials: rg -i aws_secret_access_key / in pod shop/web-7d9f8c6b5-x2x4q"},
		{"index": 4, "rule_id": "PAL-014", "message": "grep (pid 4242) searched for credentials: grep --recursive BEGIN RSA PRIVATE KEY / in pod shop/web-7d9f8c6b5-x2x4q"},
	}
}

# The benign corpus' shapes: find -exec grep, a grep of one file, find by extension.
test_near_misses_do_not_fire if {
	count(alerts_for([
		f.exec("/usr/bin/find", ["find", "data", "-name", "*.txt", "-exec", "grep", "-l", "line 1", "{}", ";"]),
		f.exec("/usr/bin/grep", ["grep", "root", "/etc/passwd"]),
		f.exec("/usr/bin/grep", ["grep", "-i", "password", "config.yaml"]),
		f.exec("/usr/bin/grep", ["grep", "-rn", "TODO", "src"]),
		f.exec("/usr/bin/find", ["find", ".", "-name", "*.py", "-delete"]),
		f.exec("/usr/bin/cat", ["cat", "/root/.ssh/id_rsa"]),
		f.host(f.exec("/usr/bin/find", ["find", "/", "-name", "id_rsa"])),
	])) == 0
}
