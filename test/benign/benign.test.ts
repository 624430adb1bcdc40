// False positives, measured (issue 9, item 6): the benign corpus (workloads.ts) runs in kubelet-style pod cgroups
// through the embedded pipeline with the shipped rules and the default TracingPolicy, and no rule may fire.
//
// How "the pipeline has seen all of it" is known without timing: after a workload, the same pod runs a canary
// (cat /etc/shadow, which PAL-001 alerts on). One node's events travel in order through every stage of the embedded
// pipeline, so once the canary's alert is out, every event of the workload before it has been evaluated; the pod's
// alerts must then be exactly the canary's.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { skipUnless, waitFor } from '@palisade/common/testing';
import { canUseKernel, createPodCgroup, type PodCgroup } from '../support/pod-cgroup.js';
import { scrape, startService, type ServiceProcess } from '../support/service-process.js';
import { WORKLOADS, type WorkloadContext } from './workloads.js';

const kernel = canUseKernel();
const skip = skipUnless(kernel.ok, kernel.why);

const CANARY_RULE = 'PAL-001';
/** A plain container PATH and HOME: not the test runner's (pyenv shims are bash scripts, and would be in every exec). */
const CONTAINER_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };

interface AlertLine {
  ruleId?: string;
  message?: string;
  event?: { pod?: { containerId?: string } };
}

let pipeline: ServiceProcess | undefined;
let scratch = '';
const pods: PodCgroup[] = [];
const logDirs: string[] = [];

function alertsOf(p: ServiceProcess, containerId: string): AlertLine[] {
  return p.stdoutLines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as AlertLine)
    .filter((a) => a.event?.pod?.containerId === containerId);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a !== null ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

before(async () => {
  if (skip) return;
  scratch = mkdtempSync(join(tmpdir(), 'palisade-benign-'));
  pipeline = await startService('embedded', 'services/palisade/dist/main.js', ['embedded', '--log-level', 'warn']);
});

after(async () => {
  await pipeline?.stop();
  for (const p of pods) p.remove();
  for (const d of logDirs) rmSync(d, { recursive: true, force: true });
  if (scratch !== '') rmSync(scratch, { recursive: true, force: true });
});

for (const w of WORKLOADS) {
  test(`benign: ${w.name} (${w.what}) raises no alert`, { skip, timeout: 300_000 }, async (t) => {
    assert.ok(pipeline);
    const pod = createPodCgroup();
    pods.push(pod);
    const dir = join(scratch, w.name);
    mkdirSync(dir, { recursive: true });
    const logDir = mkdtempSync('/var/log/palisade-benign-');
    logDirs.push(logDir);
    const ctx: WorkloadContext = { port: await freePort(), logDir };
    w.setup(dir, ctx);
    const eventsBefore = await scrape(pipeline.metricsPort, 'palisade_evaluator_events_total');

    const r = await pod.runEntrypoint(w.argv(dir, ctx), { cwd: dir, env: { ...CONTAINER_ENV, HOME: dir } });
    assert.equal(r.code, 0, `the workload itself failed, so it proves nothing:\n${r.stdout}\n${r.stderr}`);

    const canary = await pod.runEntrypoint(['cat', '/etc/shadow'], { env: CONTAINER_ENV });
    assert.equal(canary.code, 0, canary.stderr);
    await waitFor(`the canary's ${CANARY_RULE} alert for ${w.name}`,
      () => alertsOf(pipeline!, pod.containerId).some((a) => a.ruleId === CANARY_RULE && /\/etc\/shadow/.test(a.message ?? '')),
      { timeoutMs: 120_000 });
    const events = (await scrape(pipeline.metricsPort, 'palisade_evaluator_events_total')) - eventsBefore;
    t.diagnostic(`${w.name}: ${events} events evaluated (the workload, its canary and the node's background)`);

    const alerts = alertsOf(pipeline, pod.containerId);
    const falsePositives = alerts.filter((a) => !(a.ruleId === CANARY_RULE && /\/etc\/shadow/.test(a.message ?? '')));
    assert.deepEqual(falsePositives.map((a) => `${a.ruleId}: ${a.message}`), [], `false positives on ${w.name}`);
  });
}
