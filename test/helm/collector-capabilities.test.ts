// The chart's capability list is enough on this kernel, and needed: the pipeline runs as the collector's container
// would, uid 0 with its bounding set cut to exactly the chart's capabilities (all others gone, as with the
// container's drop ALL + add) and no_new_privs (allowPrivilegeEscalation: false), and it still loads, attaches and
// streams: a read of /etc/shadow in a pod cgroup comes out as PAL-001. Without CAP_PERFMON the same start is refused.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { skipUnless, waitFor } from '@palisade/common/testing';
import { helmUnavailableReason, render } from '../support/helm.js';
import { canUseKernel, createPodCgroup, type PodCgroup } from '../support/pod-cgroup.js';
import { startService, type ServiceProcess } from '../support/service-process.js';

const kernel = canUseKernel();
const why = helmUnavailableReason() ?? (kernel.ok ? undefined : kernel.why) ?? (existsSync('/usr/bin/setpriv') ? undefined : 'no setpriv (util-linux)');
const skip = skipUnless(why === undefined, why ?? '');

// capability(7) numbers, for reading /proc/<pid>/status.
const CAP_BITS: Record<string, number> = { SYS_PTRACE: 19, SYS_ADMIN: 21, SYS_RESOURCE: 24, PERFMON: 38, BPF: 39, DAC_READ_SEARCH: 2, NET_ADMIN: 12 };

const pods: PodCgroup[] = [];
const running: ServiceProcess[] = [];
after(async () => {
  for (const p of running) await p.stop();
  for (const p of pods) p.remove();
});

function chartCapabilities(): string[] {
  const ds = render().objects.find((o) => o.kind === 'DaemonSet');
  const c = (ds?.['spec'] as { template: { spec: { containers: { securityContext: { capabilities: { add: string[]; drop: string[] } } }[] } } })
    .template.spec.containers[0];
  assert.deepEqual(c?.securityContext.capabilities.drop, ['ALL']);
  return c?.securityContext.capabilities.add ?? [];
}

function asContainer(caps: string[]): string[] {
  const list = caps.map((c) => `+${c.toLowerCase()}`).join(',');
  return ['setpriv', '--bounding-set', `-all,${list}`, '--inh-caps', '-all', '--no-new-privs', process.execPath,
    'services/palisade/dist/main.js', 'embedded'];
}

function capsOf(pid: number): { eff: bigint; bnd: bigint } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): bigint => BigInt(`0x${new RegExp(`^${name}:\\s*([0-9a-f]+)$`, 'm').exec(status)?.[1] ?? '0'}`);
  return { eff: field('CapEff'), bnd: field('CapBnd') };
}

test('with exactly the chart\'s capabilities the collector attaches and streams: /etc/shadow in a pod → PAL-001', { skip }, async (t) => {
  const caps = chartCapabilities();
  assert.ok(!caps.includes('SYS_ADMIN'), 'the default list holds no SYS_ADMIN');
  const p = await startService('embedded-capped', '', ['--log-level', 'warn'], { command: asContainer(caps), readyTimeoutMs: 180_000 });
  running.push(p);
  assert.ok(p.child.pid !== undefined);
  // A capability this test process lacks itself cannot be handed on (this sandbox has no CAP_SYS_RESOURCE): then
  // the run shows the rest is enough, and says which one it went without.
  const own = capsOf(process.pid).bnd;
  const bit = (c: string): bigint => 1n << BigInt(CAP_BITS[c] ?? 63);
  const without = caps.filter((c) => (own & bit(c)) === 0n);
  if (without.length > 0) t.diagnostic(`this machine cannot grant ${without.join(', ')}: ran without`);
  const want = caps.filter((c) => !without.includes(c)).reduce((m, c) => m | bit(c), 0n);
  const held = capsOf(p.child.pid);
  assert.equal(held.eff.toString(16), want.toString(16), 'the process holds exactly the chart\'s capabilities');
  assert.equal(held.bnd.toString(16), want.toString(16));
  const pod = createPodCgroup();
  pods.push(pod);
  await pod.run(['cat', '/etc/shadow']);
  const alert = await waitFor('PAL-001 from the capped pipeline', () => p.stdoutLines.filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { ruleId?: string; event?: { pod?: { containerId?: string } } })
    .find((a) => a.ruleId === 'PAL-001' && a.event?.pod?.containerId === pod.containerId), { timeoutMs: 60_000 });
  assert.ok(alert);
  assert.equal(await p.stop(), 0);
});

test('without CAP_PERFMON the same start is refused: the list is not larger than it needs to be there', { skip }, async () => {
  const caps = chartCapabilities().filter((c) => c !== 'PERFMON');
  await assert.rejects(startService('embedded-no-perfmon', '', ['--log-level', 'warn'], { command: asContainer(caps), readyTimeoutMs: 180_000 })
    .then((p) => { running.push(p); }), /exited with \d+ before it was ready[\s\S]*refused the required program pal_\w+ \(EPERM\)/);
});

test('CAP_SYS_PTRACE is what lets the process cache read another user\'s /proc/<pid>/exe and /root', { skip }, async () => {
  const other = spawn('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', 'sleep', '600'], { stdio: 'ignore' });
  try {
    const pid = other.pid;
    assert.ok(pid !== undefined);
    await waitFor('the other user\'s sleep to run', () => readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Uid:\s+65534/m) !== null
      && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep');
    const readlink = (caps: string[]): { status: number | null; stdout: string; stderr: string } => spawnSync('setpriv', [
      '--bounding-set', `-all,${caps.map((c) => `+${c.toLowerCase()}`).join(',')}`, '--inh-caps', '-all', '--no-new-privs',
      'readlink', `/proc/${pid}/exe`, `/proc/${pid}/root`], { encoding: 'utf8' });
    const caps = chartCapabilities();
    const withIt = readlink(caps);
    assert.equal(withIt.status, 0, withIt.stderr);
    assert.match(withIt.stdout, /\/sleep\n\/\n$/);
    const withoutIt = readlink(caps.filter((c) => c !== 'SYS_PTRACE'));
    assert.notEqual(withoutIt.status, 0, 'readable without CAP_SYS_PTRACE: then the chart would not need it');
  } finally {
    other.kill('SIGKILL');
  }
});
