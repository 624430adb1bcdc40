import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { PalisadeError } from '@palisade/common';
import { parseTracingPolicy } from './filter-policy.js';

const GOOD = `
apiVersion: palisade.dev/v1alpha1
kind: TracingPolicy
metadata:
  name: quiet-and-strict
spec:
  selectors:
    - comms: [kubelet, containerd]
      action: Drop
    - pathPrefixes: [/etc/kubernetes/pki/, /root/.ssh/]
      action: Sigkill
    - pathPrefixes: [/proc/]
      action: Drop
`;

function rejects(yaml: string, message: RegExp): void {
  assert.throws(
    () => parseTracingPolicy(yaml, 'test.yaml'),
    (err: unknown) => err instanceof PalisadeError && err.code === 'CONFIG_INVALID' && message.test(err.message),
  );
}

function policy(selectors: string): string {
  return `apiVersion: palisade.dev/v1alpha1\nkind: TracingPolicy\nmetadata: {name: p}\nspec:\n  selectors:\n${selectors}`;
}

test('a policy becomes the kernel filter: comms, path prefixes, actions mapped', () => {
  const p = parseTracingPolicy(GOOD);
  assert.equal(p.name, 'quiet-and-strict');
  assert.deepEqual(p.filter, {
    binaries: [
      { comm: 'kubelet', action: 'drop' },
      { comm: 'containerd', action: 'drop' },
    ],
    pathPrefixes: [
      { prefix: '/etc/kubernetes/pki/', action: 'sigkill' },
      { prefix: '/root/.ssh/', action: 'sigkill' },
      { prefix: '/proc/', action: 'drop' },
    ],
  });
});

test('an empty selector list is a valid policy that filters nothing', () => {
  const empty = 'apiVersion: palisade.dev/v1alpha1\nkind: TracingPolicy\nmetadata: {name: p}\nspec: {selectors: []}\n';
  assert.deepEqual(parseTracingPolicy(empty).filter, {
    binaries: [],
    pathPrefixes: [],
  });
});

test('errors name the source, the field and what is wrong', () => {
  rejects(GOOD.replace('v1alpha1', 'v1'), /^test\.yaml: apiVersion must be palisade\.dev\/v1alpha1, got "palisade\.dev\/v1"/);
  rejects(GOOD.replace('kind: TracingPolicy', 'kind: Policy'), /kind must be TracingPolicy/);
  rejects(GOOD.replace('name: quiet-and-strict', 'name: ""'), /metadata\.name must be a non-empty string/);
  rejects(GOOD.replace('action: Drop', 'action: Kill'), /spec\.selectors\[0\]\.action must be Drop or Sigkill or Post for comms, got "Kill"/);
  rejects(policy('    - pathPrefix: [/tmp]\n      action: Drop\n'), /spec\.selectors\[0\]\.pathPrefix is not a known field/);
  rejects(policy('    - action: Drop\n'), /spec\.selectors\[0\] needs one of binaries, binaryPrefixes, comms, commPrefixes, pathPrefixes, cgroups, ports/);
  rejects(policy('    - comms: [sh]\n      pathPrefixes: [/tmp]\n      action: Sigkill\n'), /both comms and pathPrefixes/);
  rejects(policy('    - binaries: []\n      action: Drop\n'), /binaries must be a non-empty list/);
  rejects(policy('    - comms: [/usr/bin/nc]\n      action: Sigkill\n'), /comms\[0\] '\/usr\/bin\/nc' is a path.*write 'nc'/);
  rejects(policy('    - comms: [kube-controller-manager]\n      action: Drop\n'), /only the first 15/);
  rejects(policy('    - pathPrefixes: [tmp/x]\n      action: Drop\n'), /pathPrefixes\[0\] 'tmp\/x' must be an absolute path/);
  rejects(policy(`    - pathPrefixes: [/${'a'.repeat(64)}]\n      action: Drop\n`), /is 65 bytes; at most 64/);
  const many = Array.from({ length: 17 }, (_, i) => `/p${i}`).join(', ');
  rejects(policy(`    - pathPrefixes: [${many}]\n      action: Drop\n`), /17 path prefixes in all; the kernel filter holds 16/);
  rejects('apiVersion: [unclosed', /YAML is malformed/);
  rejects(`${GOOD}\n---\n${GOOD}`, /exactly one policy, found 2/);
  rejects('- a\n- b\n', /document must be a mapping/);
});

test('kinds, binary prefixes, cgroups (paths resolved, missing ones warned), ports and rate limits', () => {
  const ids: Record<string, number> = { '/kubepods/pod-a': 1001, '/kubepods/pod-b': 1002 };
  const p = parseTracingPolicy(`
apiVersion: palisade.dev/v1alpha1
kind: TracingPolicy
metadata: {name: all-selectors}
spec:
  kinds: [exec, exit, file_open, 6]
  selectors:
    - commPrefixes: [systemd-]
      kinds: [file_open]
      action: Drop
    - cgroups: [/kubepods/pod-a, 77, /kubepods/gone]
      action: Drop
    - cgroups: [/kubepods/pod-b]
      match: NotIn
      action: Drop
    - ports: [53, 5353]
      action: Post
      rateLimit: {events: 100, seconds: 1}
    - comms: [curl]
      action: Post
      rateLimit: {events: 5, seconds: 60}
`, 'all.yaml', { resolveCgroup: (path) => ids[path] });
  const rate = { events: 100, seconds: 1 };
  assert.deepEqual(p.filter, {
    binaries: [{ comm: 'curl', action: 'post', rateLimit: { events: 5, seconds: 60 } }],
    pathPrefixes: [],
    binaryPrefixes: [{ prefix: 'systemd-', action: 'drop', kinds: [3] }],
    cgroups: [{ id: 1001, action: 'drop' }, { id: 77, action: 'drop' }],
    onlyCgroups: [1002],
    ports: [{ port: 53, action: 'post', rateLimit: rate }, { port: 5353, action: 'post', rateLimit: rate }],
    kinds: [1, 2, 3, 6],
  });
  assert.deepEqual(p.warnings, ["all.yaml: spec.selectors[1].cgroups[2] '/kubepods/gone' does not exist (now); skipped"]);
  // Both ports of one selector share one bucket per process.
  const ports = p.filter.ports ?? [];
  assert.equal(ports[0]?.rateLimit, ports[1]?.rateLimit);
});

test('selector combinations the kernel cannot do are refused with the reason', () => {
  rejects(policy('    - ports: [53]\n      action: Sigkill\n'), /action must be Drop or Post for ports/);
  rejects(policy('    - comms: [sh]\n      action: Drop\n      rateLimit: {events: 1, seconds: 1}\n'), /rateLimit needs action Post/);
  rejects(policy('    - comms: [sh]\n      action: Post\n      rateLimit: {events: 0, seconds: 1}\n'), /rateLimit\.events must be a positive integer/);
  rejects(policy('    - pathPrefixes: [/tmp]\n      action: Drop\n      kinds: [exec]\n'), /kinds is not supported on pathPrefixes/);
  rejects(policy('    - comms: [sh]\n      action: Sigkill\n      kinds: [exec]\n'), /does not apply to Sigkill/);
  rejects(policy('    - comms: [sh]\n      action: Drop\n      kinds: [syscalls]\n'), /kinds\[0\] must be an event kind/);
  rejects(policy('    - comms: [sh]\n      match: NotIn\n      action: Drop\n'), /match applies to cgroups only/);
  rejects(policy('    - cgroups: [/x]\n      match: NotIn\n      action: Drop\n'), /resolve to no cgroup/);
  rejects(policy('    - cgroups: [relative]\n      action: Drop\n'), /must be a cgroup id or a path/);
  rejects(policy('    - ports: [0]\n      action: Drop\n'), /ports\[0\] must be a port 1-65535/);
  rejects(policy('    - commPrefixes: [a-very-long-prefix]\n      action: Drop\n'), /at most 15/);
  rejects('apiVersion: palisade.dev/v1alpha1\nkind: TracingPolicy\nmetadata: {name: p}\nspec: {kinds: [], selectors: []}\n', /spec\.kinds must be a non-empty list/);
});

test('the shipped default policy parses, keeps every kind and drops nothing a rule reads', () => {
  const text = readFileSync(new URL('../../../policies/tracing/default.yaml', import.meta.url), 'utf8');
  const p = parseTracingPolicy(text, 'default.yaml', { resolveCgroup: () => undefined });
  assert.equal(p.filter.kinds, undefined, 'no kind is dropped wholesale');
  assert.equal(p.filter.cgroups, undefined);
  assert.equal(p.filter.ports, undefined);
  assert.deepEqual(p.filter.binaries, [], 'no selector by comm: a process can set its own');
  assert.deepEqual(p.filter.executables?.map((e) => e.path), ['/usr/lib/systemd/systemd-journald', '/usr/sbin/rsyslogd']);
  for (const b of p.filter.executables ?? []) assert.deepEqual(b.kinds, [3], `${b.path}: only its opens`);
  // PAL-001's paths (policies/rules/pal_001_credential_file_open.rego) must not fall under a dropped prefix.
  for (const path of ['/etc/shadow', '/etc/gshadow', '/etc/sudoers', '/etc/sudoers.d/x']) {
    assert.equal(p.filter.pathPrefixes.find((x) => path.startsWith(x.prefix)), undefined, path);
  }
  assert.ok(p.filter.pathPrefixes.every((x) => x.action === 'drop'));
});

test('YAML that cannot be read (found by fuzzing) is a config error, never an untyped throw', () => {
  const bomb = `a: &a [x, x, x, x, x, x, x, x, x, x]\n${Array.from({ length: 8 }, (_, i) =>
    `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`).join('\n')}\n`;
  for (const text of ["*'gVJn^N'v", 'apiVersion: *nowhere', bomb]) {
    assert.throws(() => parseTracingPolicy(text, 'fuzzed.yaml', { resolveCgroup: () => undefined }),
      (e: unknown) => e instanceof PalisadeError && e.code === 'CONFIG_INVALID' && /fuzzed\.yaml/.test(e.message), text.slice(0, 40));
  }
});

test('binaries and binaryPrefixes are executable paths (Tetragon matchBinaries); comms and commPrefixes the comm', () => {
  const p = parseTracingPolicy(policy(`    - binaries: [/usr/bin/curl, /usr/local/bin/x]
      action: Sigkill
    - binaryPrefixes: [/tmp/, /dev/shm/]
      kinds: [exec, file_open]
      action: Drop
    - binaries: [/usr/bin/wget]
      action: Post
      rateLimit: {events: 2, seconds: 1}
    - comms: [kubelet]
      action: Drop
    - commPrefixes: [kworker]
      action: Drop
`));
  assert.deepEqual(p.filter, {
    binaries: [{ comm: 'kubelet', action: 'drop' }],
    pathPrefixes: [],
    binaryPrefixes: [{ prefix: 'kworker', action: 'drop' }],
    executables: [
      { path: '/usr/bin/curl', action: 'sigkill' },
      { path: '/usr/local/bin/x', action: 'sigkill' },
      { path: '/usr/bin/wget', action: 'post', rateLimit: { events: 2, seconds: 1 } },
    ],
    executablePrefixes: [
      { prefix: '/tmp/', action: 'drop', kinds: [1, 3] },
      { prefix: '/dev/shm/', action: 'drop', kinds: [1, 3] },
    ],
  });
});

test('a binaries entry that is not an absolute path is refused, naming comms', () => {
  rejects(policy('    - binaries: [kubelet]\n      action: Drop\n'),
    /spec\.selectors\[0\]\.binaries\[0\] 'kubelet' is not an absolute path: binaries match the executable's full path .*use comms: \[kubelet\]/);
  rejects(policy('    - binaryPrefixes: [systemd-]\n      action: Drop\n'), /binaryPrefixes\[0\] 'systemd-' is not an absolute path.*use commPrefixes/);
  rejects(policy(`    - binaries: [/${'a'.repeat(255)}]\n      action: Drop\n`), /is 256 bytes; at most 255/);
  rejects(policy(`    - binaryPrefixes: [/${'a'.repeat(64)}]\n      action: Drop\n`), /is 65 bytes; at most 64/);
  const many = Array.from({ length: 9 }, (_, i) => `/p${i}/`).join(', ');
  rejects(policy(`    - binaryPrefixes: [${many}]\n      action: Drop\n`), /9 binary prefixes in all; the kernel filter holds 8/);
  rejects(policy('    - binaries: [/usr/bin/sh]\n      comms: [sh]\n      action: Drop\n'), /has both binaries and comms/);
});
