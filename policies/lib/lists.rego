# METADATA
# title: Named lists the rules share
# description: >-
#   Sets of program names and paths, in the spirit of Falco's lists: a rule says `lists.shells`, not its own copy of
#   the shells. Program names are basenames (comm, or the basename of a binary path: macros.proc_name). Extending a
#   list here changes every rule that reads it, on purpose; to quiet one rule for one workload, use a tuning
#   exception (policies/README.md "Tuning") instead, which can never reach another rule.
# scope: package
package palisade.lib.lists

# busybox is not here: it is a shell only as the "sh" applet, and then its comm and file name say "sh".
shells := {"sh", "bash", "dash", "zsh", "ash", "ksh", "mksh", "csh", "tcsh", "fish"}

# Programs that open a socket to a peer and hand it a shell or a file: the reverse-shell toolbox.
netcats := {"nc", "ncat", "netcat", "socat"}

# Network scanners and packet tools that a workload has no reason to run.
network_tools := netcats | {
	"nmap", "masscan", "zmap", "rustscan", "hping", "hping3", "tcpdump", "tshark", "dumpcap", "arp-scan", "nping",
	"telnet",
}

# Downloaders: curl | sh, wget -O- | sh.
downloaders := {"curl", "wget", "fetch", "aria2c"}

package_managers := {
	"apt", "apt-get", "aptitude", "dpkg", "yum", "dnf", "microdnf", "rpm", "zypper", "apk", "pacman", "emerge",
	"pip", "pip3", "pipx", "easy_install", "npm", "yarn", "pnpm", "gem", "bundle", "cargo", "composer",
	"conda", "mamba",
}

# Cryptocurrency miners by their usual binary names.
miners := {
	"xmrig", "xmr-stak", "xmr-stak-cpu", "minerd", "cpuminer", "cpuminer-multi", "ccminer", "cgminer", "bfgminer",
	"ethminer", "t-rex", "nbminer", "lolminer", "phoenixminer", "nanominer", "gminer", "srbminer", "kswapd0",
}

# Programs that start container processes: an exec whose parent is one of these is the container's own start.
# runc and containerd-shim are prefixes (their comms vary: "runc:[2:INIT]", "containerd-shim-runc-v2").
container_runtimes := {"runc", "crun", "conmon", "containerd-shim", "youki"}

container_runtime_prefixes := {"runc", "containerd-shim"}

# Init wrappers that exec the entrypoint (often through "sh -c").
container_inits := {"tini", "dumb-init", "docker-init", "catatonit"}

# Password hashes and sudo policy.
credential_files := {"/etc/shadow", "/etc/gshadow", "/etc/sudoers"}

credential_dirs := {"/etc/sudoers.d"}

# Directories whose content changes what runs: writes there are persistence or tampering.
binary_dirs := {"/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"}

library_dirs := {"/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib"}

sensitive_dirs := (binary_dirs | library_dirs) | {"/etc", "/boot", "/root"}

# World-writable places an attacker drops a binary into.
temp_dirs := {"/tmp", "/var/tmp", "/dev/shm", "/run/shm"}

# Interpreters that often front an exploited application (and also shell out legitimately).
interpreters := {
	"python", "python2", "python3", "perl", "ruby", "php", "php-fpm", "node", "nodejs", "java", "lua", "tclsh",
}

# Parents that start shells as part of ordinary work (Falco's user_known_shell_spawn_binaries, curated): build tools
# run recipes through sh -c, find -exec and xargs run commands, schedulers and supervisors run scripts, and a few
# utilities run a shell by design. Interpreters (macros.interpreter) are allowed separately. Not here on purpose:
# web and database servers, java and php-fpm (the parents of a command injection), editors (a shell escape).
shell_spawners := {
	"make", "gmake", "cmake", "ninja", "meson", "scons", "bazel", "gcc", "cc", "g++", "c++", "clang", "clang++",
	"collect2", "npm", "npx", "yarn", "pnpm", "node-gyp", "pip", "pip3", "cargo", "rustc", "go",
	"find", "xargs", "env", "nohup", "nice", "ionice", "timeout", "time", "flock", "watch", "parallel", "chroot",
	"sudo", "su", "runuser", "setpriv", "login", "sshd", "ssh", "script", "tmux", "screen", "git",
	"cron", "crond", "anacron", "logrotate", "run-parts", "systemd", "supervisord", "s6-supervise", "runsv",
	"awk", "gawk", "mawk", "man", "less", "strace",
}
