// Exec signals of issue 8 (bpf/README.md "Exec environment and executable origin"), from real execs in a
// kubelet-style pod cgroup: LD_PRELOAD / LD_LIBRARY_PATH / LD_AUDIT at exec (set, unset, empty, behind padding,
// past the scan's bounds, longer than the value bound, redacted), and where the executed file lives (tmpfs, /tmp,
// an overlay's lower or upper layer, changed after the container started).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ABI, pb, type palisade } from '@palisade/common';
import { skipUnless, waitFor } from '@palisade/common/testing';
import { KernelSource } from '@palisade/collector/dist/kernel-source.js';
import { canUseKernel, createPodCgroup, type PodCgroup } from '../support/pod-cgroup.js';

type RawEvent = palisade.v1.IRawEvent;

const kernel = canUseKernel();
const skip = skipUnless(kernel.ok, kernel.why);
const C = ABI.constants;

let pod: PodCgroup | undefined;
let source: KernelSource | undefined;
const events: RawEvent[] = [];
const scratch = join(tmpdir(), `palisade-execsig-${randomBytes(4).toString('hex')}`);
const mounts: string[] = [];

before(async () => {
  if (skip) return;
  mkdirSync(scratch, { recursive: true });
  pod = createPodCgroup();
  const ours = pod.cgroupId;
  source = new KernelSource({ cgroupWalkIntervalMs: 0 });
  source.start((batch) => events.push(...batch.filter((e) => e.process?.cgroupId === ours)));
  // The container's first process: the start every "changed after the container started" below is compared with.
  await execIn(['/bin/true', 'container-start']);
});

after(() => {
  source?.close();
  for (const m of mounts.reverse()) {
    try {
      execFileSync('umount', ['-l', m]);
    } catch {
      // already gone
    }
  }
  pod?.remove();
  rmSync(scratch, { recursive: true, force: true });
});

/** Runs argv in the pod and returns the exec event whose argv is `argv` (argv[0] as passed). */
async function execIn(argv: string[], via: string[] = []): Promise<palisade.v1.IProcessExec> {
  assert.ok(pod);
  const r = await pod.run([...via, ...argv]);
  assert.equal(r.code, 0, `${argv.join(' ').slice(0, 200)}: ${r.stderr}`);
  const e = await waitFor(`the exec of ${argv.slice(0, 2).join(' ')}`, () => events.find((x) =>
    x.kind === pb.EventKind.EVENT_KIND_PROCESS_EXEC && x.exec?.argv?.[0] === argv[0] &&
    x.exec?.argv?.[1] === argv[1]), { timeoutMs: 20_000 });
  assert.ok(e.exec);
  return e.exec;
}

let cases = 0;
/** Execs /bin/true with exactly `vars` as its environment (env -i), marked so its event is found. */
function execWithEnv(vars: string[]): Promise<palisade.v1.IProcessExec> {
  return execIn(['/bin/true', `case-${++cases}`], ['env', '-i', ...vars]);
}

const padding = (n: number, bytes: number): string[] =>
  Array.from({ length: n }, (_, i) => `PAD_${String(i).padStart(5, '0')}=${'x'.repeat(Math.max(0, bytes - 11))}`);

for (const name of ['LD_PRELOAD', 'LD_LIBRARY_PATH', 'LD_AUDIT']) {
  test(`${name} at exec: its value when set, nothing of the others`, { skip }, async () => {
    const value = `/opt/palisade-${name.toLowerCase()}.so`;
    const e = await execWithEnv(['HOME=/root', `${name}=${value}`, 'PATH=/usr/bin']);
    assert.deepEqual(e.env, { [name]: value });
    assert.equal(e.envScanIncomplete, false);
    assert.equal(e.envValueTruncated, false);
    assert.equal(e.envCount, 3);
  });
}

test('no watched variable: env is empty; set to nothing: the key with ""', { skip }, async () => {
  const unset = await execWithEnv(['HOME=/root', 'LD_PRELOADX=1', 'XLD_PRELOAD=/x.so', 'LD_AUDI=1']);
  assert.deepEqual(unset.env, {});
  assert.equal(unset.envCount, 4);
  assert.ok((unset.envBytes ?? 0) > 0);
  const empty = await execWithEnv(['LD_PRELOAD=']);
  assert.deepEqual(empty.env, { LD_PRELOAD: '' });
});

test('all three at once, the last LD_PRELOAD winning as in ld.so', { skip }, async () => {
  const e = await execWithEnv(['LD_PRELOAD=/first.so', 'LD_LIBRARY_PATH=/l', 'LD_AUDIT=/a.so', 'LD_PRELOAD=/second.so']);
  assert.deepEqual(e.env, { LD_PRELOAD: '/second.so', LD_LIBRARY_PATH: '/l', LD_AUDIT: '/a.so' });
});

test('LD_PRELOAD after 200 padding variables is still seen', { skip }, async () => {
  const e = await execWithEnv([...padding(200, 24), 'LD_PRELOAD=/tmp/evil.so']);
  assert.deepEqual(e.env, { LD_PRELOAD: '/tmp/evil.so' });
  assert.equal(e.envScanIncomplete, false);
  assert.equal(e.envCount, 201);
});

test('LD_PRELOAD after strings longer than a read chunk is still seen', { skip }, async () => {
  const long = [`A=${'a'.repeat(C.envChunk * 3)}`, `B=${'b'.repeat(C.envChunk - 3)}`, `C=${'c'.repeat(C.envChunk - 2)}`];
  const e = await execWithEnv([...long, 'LD_AUDIT=/a.so']);
  assert.deepEqual(e.env, { LD_AUDIT: '/a.so' }, JSON.stringify({ count: e.envCount, bytes: e.envBytes,
    incomplete: e.envScanIncomplete }));
  assert.equal(e.envCount, 4);
  assert.equal(e.envScanIncomplete, false);
});

test('empty strings in the environment do not end the scan', { skip }, async () => {
  // execve(2) with "" entries in envp: no shell or env(1) makes those, so a five-line C program does (clang is a
  // build dependency).
  assert.ok(pod);
  const src = join(scratch, 'empty-env.c');
  const bin = join(scratch, 'empty-env');
  writeFileSync(src, '#include <unistd.h>\nint main(int c, char **v) {\n' +
    '  char *env[] = {"A=1", "", "", "LD_PRELOAD=/after-empty.so", 0};\n' +
    '  char *argv[] = {"/bin/true", v[1], 0};\n  return execve("/bin/true", argv, env);\n}\n');
  execFileSync('clang', ['-O1', '-o', bin, src]);
  const marker = `case-${++cases}`;
  const r = await pod.run([bin, marker]);
  assert.equal(r.code, 0, r.stderr);
  const e = await waitFor('the exec with empty env strings', () => events.find((x) =>
    x.kind === pb.EventKind.EVENT_KIND_PROCESS_EXEC && x.exec?.argv?.[0] === '/bin/true' && x.exec?.argv?.[1] === marker),
  { timeoutMs: 20_000 });
  assert.deepEqual(e.exec?.env, { LD_PRELOAD: '/after-empty.so' },
    JSON.stringify({ count: e.exec?.envCount, incomplete: e.exec?.envScanIncomplete }));
  assert.equal(e.exec?.envScanIncomplete, false);
  assert.equal(e.exec?.envCount, 4);
});

test('padding past the scan bounds leaves the signal: env_scan_incomplete', { skip }, async () => {
  // More strings than PAL_ENV_SCAN_STEPS reads.
  const many = await execWithEnv([...padding(C.envScanSteps + 50, 16), 'LD_PRELOAD=/tmp/hidden.so']);
  assert.equal(many.envScanIncomplete, true);
  assert.equal(many.env?.['LD_PRELOAD'], undefined, 'beyond the bound, so not seen');
  assert.ok((many.envCount ?? 0) <= C.envScanSteps);
  // More bytes than PAL_ENV_SCAN_BYTES in few strings.
  const big = await execWithEnv([...padding(Math.ceil(C.envScanBytes / 1000) + 4, 1000), 'LD_PRELOAD=/tmp/hidden.so']);
  assert.equal(big.envScanIncomplete, true);
  assert.ok((big.envBytes ?? 0) > C.envScanBytes);
});

test('a value longer than PAL_ENV_VALUE_MAX is cut, and says so', { skip }, async () => {
  const value = `/tmp/${'v'.repeat(C.envValueMax * 2)}.so`;
  const e = await execWithEnv([`LD_LIBRARY_PATH=${value}`]);
  assert.equal(e.env?.['LD_LIBRARY_PATH'], value.slice(0, C.envValueMax - 1));
  assert.equal(e.envValueTruncated, true);
  const exact = `/${'w'.repeat(C.envValueMax - 2)}`;
  const fits = await execWithEnv([`LD_LIBRARY_PATH=${exact}`]);
  assert.equal(fits.env?.['LD_LIBRARY_PATH'], exact);
  assert.equal(fits.envValueTruncated, false);
});

test('a secret in a value is redacted like argv', { skip }, async () => {
  const e = await execWithEnv(['LD_LIBRARY_PATH=https://deploy:hunter2secret@libs.example.com/lib']);
  assert.equal(e.env?.['LD_LIBRARY_PATH'], 'https://deploy:[REDACTED]@libs.example.com/lib');
});

test('origin: an image binary is neither on tmpfs, nor in a tmp dir, nor changed after the container started', { skip }, async () => {
  const e = await execIn(['/bin/true', 'image-binary']);
  assert.equal(e.exeOnTmpfs, false);
  assert.equal(e.exeInTmpDir, false);
  assert.notEqual(e.exeFsType, '');
  assert.ok(Number(e.exeCtimeUnixNano) > 0, 'ctime read');
  assert.ok(Number(e.exeMtimeUnixNano) > 0, 'mtime read');
  assert.ok(Number(e.containerStartUnixNano) > 0, 'a container cgroup has a start');
  assert.equal(e.exeModifiedAfterContainerStart, false);
  if (e.exeFsType === 'overlay') assert.equal(e.exeOverlayLayer, pb.ExeOverlayLayer.EXE_OVERLAY_LAYER_LOWER);
});

test('origin: a binary written into /tmp and run: in a tmp dir, changed after the container started', { skip }, async () => {
  const bin = join(scratch, 'dropped');
  const e = await execIn([bin, 'dropped'], ['sh', '-c', `cp /bin/true ${bin} && exec "$@"`, 'sh']);
  assert.equal(e.exeInTmpDir, true);
  assert.equal(e.exeModifiedAfterContainerStart, true);
  assert.ok(Number(e.exeCtimeUnixNano) > Number(e.containerStartUnixNano));
});

test('origin: a binary on a tmpfs mount (s_magic, in the kernel)', { skip }, async () => {
  const dir = join(scratch, 'shm');
  mkdirSync(dir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'palisade-test', dir]);
  mounts.push(dir);
  const bin = join(dir, 'from-tmpfs');
  copyFileSync('/bin/true', bin);
  execFileSync('chmod', ['755', bin]);
  const e = await execIn([bin, 'tmpfs']);
  assert.equal(e.exeOnTmpfs, true);
  assert.equal(e.exeFsType, 'tmpfs');
  assert.equal(e.exeModifiedAfterContainerStart, true);
});

test('origin: overlayfs lower layer (image) vs upper layer (written, or copied up by a chmod)', { skip }, async () => {
  // The layers on a tmpfs of their own: an upper dir must be on a filesystem overlayfs accepts (on the 6.1 guest
  // the tmpdir may itself be an overlay, which is refused as upperdir).
  const layers = join(scratch, 'layers');
  mkdirSync(layers);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=32m', 'palisade-layers', layers]);
  mounts.push(layers);
  const [lower, upper, work, merged] = ['lower', 'upper', 'work', 'merged'].map((d) => join(layers, d)) as
    [string, string, string, string];
  for (const d of [lower, upper, work, merged]) mkdirSync(d);
  copyFileSync('/bin/true', join(lower, 'image-bin'));
  copyFileSync('/bin/true', join(lower, 'chmod-bin'));
  execFileSync('chmod', ['755', join(lower, 'image-bin'), join(lower, 'chmod-bin')]);
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, merged]);
  mounts.push(merged);

  const image = await execIn([join(merged, 'image-bin'), 'lower']);
  assert.equal(image.exeFsType, 'overlay');
  assert.equal(image.exeOverlayLayer, pb.ExeOverlayLayer.EXE_OVERLAY_LAYER_LOWER);

  const written = join(merged, 'written-bin');
  const w = await execIn([written, 'upper'], ['sh', '-c', `cp /bin/true ${written} && exec "$@"`, 'sh']);
  assert.equal(w.exeFsType, 'overlay');
  assert.equal(w.exeOverlayLayer, pb.ExeOverlayLayer.EXE_OVERLAY_LAYER_UPPER);
  assert.equal(w.exeModifiedAfterContainerStart, true);

  const chmodded = join(merged, 'chmod-bin');
  const c = await execIn([chmodded, 'copied-up'], ['sh', '-c', `chmod 750 ${chmodded} && exec "$@"`, 'sh']);
  assert.equal(c.exeOverlayLayer, pb.ExeOverlayLayer.EXE_OVERLAY_LAYER_UPPER);
  assert.equal(c.exeModifiedAfterContainerStart, true);
});

test('origin: a host process has no container start', { skip }, async () => {
  // The same cache answers 0 for a cgroup whose path names no container (this test's own, outside the pod).
  const { ContainerStartCache } = await import('@palisade/collector/dist/container-start.js');
  const cache = new ContainerStartCache();
  assert.equal(cache.startOf(1, '/system.slice/foo.service', process.pid, 1), 0);
  assert.ok(pod);
  assert.ok(cache.startOf(2, pod.path, process.pid, Date.now() * 1e6) > 0);
});
