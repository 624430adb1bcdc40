#!/usr/bin/env node
// The kernel matrix: runs a set of the collector's compiled kernel tests on each kernel users run, and reports per
// kernel pass/fail, wall time and the `kernel-matrix:` lines the tests print. "host" is this machine's running kernel,
// directly (the same thing `npm test` does for these files); "6.1" is Debian 12's Linux 6.1 (fetched by
// scripts/kernels.mjs into .cache/kernels/) booted in qemu with this machine's root shared read-only over 9p and a
// tmpfs overlay on top, the tests running in the guest as root. Writes build/kernel-matrix.json and the guest's
// console to build/kernel-matrix/<kernel>.log.
//
//   node scripts/test-kernels.mjs [--quick | --full] [--kernel host|6.1[,...]] [--timeout-s N] [--skip-missing]
//   --quick         the CI set (default)            --full  the quick set and every other kernel test file
//   --kernel        only these kernels              --timeout-s  per kernel (default 900, --full 1800; PALISADE_KERNEL_TIMEOUT_S)
//   --skip-missing  a kernel whose qemu or image is missing is skipped, not failed (never when CI=true)
//   --files a,b     these test files instead of a set (paths relative to the root or absolute), e.g. to debug one
// PALISADE_QEMU_ACCEL=kvm uses KVM instead of TCG emulation, on a machine where qemu's KVM really works.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release as hostRelease, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The test files of each set, relative to the root. An entry that is a list runs its first file that exists.
 * Change them here only.
 */
// Loads and attaches every program, checks that events flow, and prints a `kernel-matrix:` line.
const LOAD_TEST = 'services/collector/dist/kernel-load.test.js';
const TEST_FILES = {
  quick: [LOAD_TEST],
  full: [
    LOAD_TEST,
    'services/collector/dist/kernel-coverage.test.js',
    'services/collector/dist/kernel-filter.test.js',
    'services/collector/dist/kernel-source.test.js',
    'services/collector/dist/process-ancestry.test.js',
    'test/dist/kernel/resolved-paths.test.js',
    'test/dist/kernel/exe.test.js',
    'test/dist/kernel/exec-signals.test.js',
    'test/dist/kernel/file-signals.test.js',
    'test/dist/kernel/stdio-sockets.test.js',
  ],
};

/** The guest: the size CI's machine can spare (2 cores, 24 GiB), TCG unless asked otherwise. */
const GUEST = { cpus: 2, memory: '4G', accel: process.env.PALISADE_QEMU_ACCEL || 'tcg' };
const QEMU = '/usr/bin/qemu-system-x86_64';
const KERNELS = ['host', '6.1'];
/** node --test flags, as scripts/test.mjs runs every file. */
const NODE_TEST = ['--test', '--test-concurrency=1', '--test-timeout=300000', '--test-reporter=spec'];
/** What the guest's test processes inherit from ours; everything else starts empty. */
const PASS_ENV = /^(CI|PATH|HOME|LANG|LC_ALL|TZ|NODE_OPTIONS|PALISADE_.*)$/;

const say = (msg) => process.stderr.write(`test-kernels: ${msg}\n`);
const args = process.argv.slice(2);
function option(name) {
  const i = args.findIndex((a) => a === name || a.startsWith(`${name}=`));
  if (i < 0) return undefined;
  return args[i].includes('=') ? args[i].slice(name.length + 1) : args[i + 1];
}
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--kernel' || a === '--timeout-s' || a === '--files') i++;
  else if (!/^--(quick|full|skip-missing|kernel=.+|timeout-s=.+|files=.+)$/.test(a)) { say(`unknown argument ${a}`); process.exit(2); }
}
const onlyFiles = option('--files')?.split(',').filter(Boolean);
const set = onlyFiles ? 'files' : args.includes('--full') ? 'full' : 'quick';
const onCI = process.env.CI === 'true';
const skipMissing = args.includes('--skip-missing') && !onCI;
// The full set under TCG took 815 s on 6.1 once issue 8's programs were in (43 s of it verifying 109 programs).
const timeoutS = Number(option('--timeout-s') ?? process.env.PALISADE_KERNEL_TIMEOUT_S ?? (args.includes('--full') ? 1800 : 900));
const kernels = (option('--kernel') ?? KERNELS.join(',')).split(',').filter(Boolean);
for (const k of kernels) if (!KERNELS.includes(k)) { say(`unknown kernel ${k}; one of ${KERNELS.join(', ')}`); process.exit(2); }
if (!Number.isFinite(timeoutS) || timeoutS <= 0) { say('--timeout-s must be a positive number'); process.exit(2); }

function testFiles() {
  if (onlyFiles) {
    for (const f of onlyFiles) if (!existsSync(join(root, f)) && !existsSync(f)) throw new Error(`${f} does not exist`);
    return onlyFiles;
  }
  const files = [];
  for (const entry of TEST_FILES[set]) {
    const choices = Array.isArray(entry) ? entry : [entry];
    const found = choices.find((f) => existsSync(join(root, f)));
    if (!found) throw new Error(`none of ${choices.join(', ')} exists; did the build run?`);
    files.push(found);
  }
  return files;
}

/** Process groups we started and have not seen exit; killed on any way out. */
const running = new Set();
function killAll() {
  for (const pid of running) {
    try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  running.clear();
}
process.on('exit', killAll);
for (const [sig, n] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]]) {
  process.on(sig, () => {
    say(`${sig}: stopping`);
    killAll();
    process.exit(128 + n);
  });
}

/**
 * Runs argv in its own process group, passing its output through line by line to `onLine` (which returns false to
 * hide a line), and kills the whole group after timeoutS. Resolves with the exit status.
 */
function supervise(argv, opts, onLine) {
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { ...opts, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    running.add(child.pid);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
    }, timeoutS * 1000);
    const pipe = (stream, out) => {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop() ?? '';
        for (const raw of lines) {
          const line = raw.replace(/\r$/, '');
          if (onLine(line, stream === child.stderr) !== false) out.write(`${line}\n`);
        }
      });
      stream.on('end', () => { if (rest && onLine(rest, false) !== false) out.write(`${rest}\n`); });
    };
    pipe(child.stdout, process.stdout);
    pipe(child.stderr, process.stderr);
    child.on('error', (err) => { clearTimeout(timer); running.delete(child.pid); resolve({ error: err }); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child.pid);
      // The group may hold more than the child (the guest's qemu under `timeout`, a test's helper): none outlives us.
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
      resolve({ code, signal, timedOut });
    });
  });
}

/** What every kernel's run collects from its output. */
function collector() {
  const c = { matrix: [], counts: {}, failures: [] };
  let failing;
  c.see = (raw) => {
    // The guest's node may colour its report; the patterns below are for the text.
    const line = raw.replace(/\x1b\[[0-9;]*m/g, '');
    // The spec reporter prints `✖ <name> (<ms>)` then the error's first line; it lists failures twice.
    const failed = /^\s*✖ (.+) \([\d.]+ms\)$/.exec(line);
    if (failed) {
      failing = c.failures.find((f) => f.test === failed[1]);
      if (!failing) c.failures.push(failing = { test: failed[1], error: undefined });
    } else if (failing && failing.error === undefined && /^\s*\w*Error\b.*:/.test(line)) {
      failing.error = line.trim();
    }
    const m = /kernel-matrix:\s*(.*)$/.exec(line);
    if (m) {
      let value = m[1];
      try { value = JSON.parse(m[1]); } catch { /* kept as text */ }
      c.matrix.push(value);
    }
    const n = /^ℹ (tests|pass|fail|cancelled|skipped|todo) (\d+)$/.exec(line);
    if (n) c.counts[n[1]] = (c.counts[n[1]] ?? 0) + Number(n[2]);
  };
  return c;
}

async function runHost(files) {
  const c = collector();
  const started = Date.now();
  const r = await supervise([process.execPath, ...NODE_TEST, ...files], { cwd: root }, (line) => { c.see(line); });
  const wallS = (Date.now() - started) / 1000;
  let reason;
  if (r.error) reason = `could not start node: ${r.error.message}`;
  else if (r.timedOut) reason = `no result after ${timeoutS} s: killed`;
  else if (r.code !== 0) reason = `node --test exited with ${r.code ?? r.signal}`;
  return {
    kernel: 'host', release: hostRelease(), status: reason ? 'fail' : 'pass', reason, wallS,
    exitCode: r.code ?? null, counts: c.counts, failures: c.failures, matrix: c.matrix,
  };
}

const shq = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

/** The host-side record scripts/kernels.mjs wrote, or why the kernel cannot boot here. */
function guestKernel() {
  if (!existsSync(QEMU)) return { missing: `${QEMU} is missing (Debian package qemu-system-x86; setup's kernels step installs it)` };
  let record;
  try {
    record = JSON.parse(readFileSync(join(root, '.cache/kernels/6.1.json'), 'utf8'));
  } catch {
    return { missing: 'no kernel in .cache/kernels/6.1.json; run `node scripts/setup.mjs --only kernels`' };
  }
  for (const f of [record.kernel, record.initrd]) {
    if (!existsSync(f)) return { missing: `${f} is missing; run \`node scripts/setup.mjs --only kernels\`` };
  }
  return { record };
}

async function runGuest(files) {
  const { record, missing } = guestKernel();
  if (missing) {
    if (skipMissing) {
      say(`6.1: skipped: ${missing}`);
      return { kernel: '6.1', status: 'skipped', reason: missing, wallS: 0, matrix: [] };
    }
    return { kernel: '6.1', status: 'fail', reason: onCI ? `required when CI=true: ${missing}` : missing, wallS: 0, matrix: [] };
  }
  const run = randomBytes(6).toString('hex');
  // The job reaches the guest through the read-only share; its /tmp is the host's, which the guest's init reads
  // before it mounts its own tmpfs there.
  const jobDir = mkdtempSync(join(tmpdir(), 'palisade-kernel-'));
  const env = Object.entries(process.env).filter(([k]) => PASS_ENV.test(k));
  writeFileSync(join(jobDir, 'job.sh'), [
    ...env.map(([k, v]) => `export ${k}=${shq(v)}`),
    `cd ${shq(root)} || exit 126`,
    `exec ${[process.execPath, ...NODE_TEST, ...files].map(shq).join(' ')}`,
    '',
  ].join('\n'));
  const log = join(root, 'build/kernel-matrix/6.1.log');
  mkdirSync(dirname(log), { recursive: true });
  const consoleLines = [];
  const accel = GUEST.accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,thread=multi', '-cpu', 'max'];
  const argv = [
    // `timeout` kills qemu even when this process is SIGKILLed and cannot clean up: no guest outlives its deadline.
    'timeout', '--signal=KILL', `${timeoutS + 30}s`,
    QEMU, '-nodefaults', '-no-user-config', '-display', 'none', '-monitor', 'none', '-serial', 'stdio',
    // panic=-1 reboots at once and -no-reboot turns a reboot into qemu's exit; oops=panic: an oops is a failure too.
    '-no-reboot', ...accel, '-smp', String(GUEST.cpus), '-m', GUEST.memory,
    '-kernel', record.kernel, '-initrd', record.initrd,
    '-append', `console=ttyS0 quiet loglevel=4 panic=-1 oops=panic palisade.run=${run} palisade.job=${join(jobDir, 'job.sh')}`,
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap',
  ];
  say(`6.1: booting ${record.release} (${record.debVersion}) in qemu (${GUEST.accel}, ${GUEST.cpus} vCPUs, ${GUEST.memory})`);
  const c = collector();
  const started = Date.now();
  let bootS;
  let exitCode;
  let panic;
  let initFailure;
  const r = await supervise(argv, {}, (line, isStderr) => {
    consoleLines.push(line);
    if (isStderr) return true;
    const start = new RegExp(`^PALISADE-GUEST-START ${run} `).exec(line);
    if (start) { bootS = (Date.now() - started) / 1000; return false; }
    const exit = new RegExp(`PALISADE-GUEST-EXIT ${run} (\\d+)`).exec(line);
    if (exit) { exitCode = Number(exit[1]); return false; }
    if (/Kernel panic - not syncing/.test(line)) panic ??= line.replace(/^\[[^\]]*\]\s*/, '');
    if (/^palisade-guest: FAILED/.test(line)) initFailure ??= line.slice('palisade-guest: '.length);
    c.see(line);
    return true;
  });
  const wallS = (Date.now() - started) / 1000;
  rmSync(jobDir, { recursive: true, force: true });
  writeFileSync(log, consoleLines.join('\n') + '\n');
  let reason;
  if (r.error) reason = `could not start qemu: ${r.error.message}`;
  else if (panic) reason = `guest kernel panicked: ${panic}`;
  else if (initFailure) reason = `guest init ${initFailure}`;
  else if (exitCode === undefined && r.timedOut) reason = `no result after ${timeoutS} s: the guest hung or is too slow; killed qemu`;
  else if (exitCode === undefined) reason = `qemu exited (${r.code ?? r.signal}) before the guest reported a result`;
  else if (exitCode !== 0) reason = `node --test exited with ${exitCode} in the guest`;
  if (reason && exitCode === undefined) {
    say(`6.1: last console lines (all in ${log}):`);
    for (const l of consoleLines.slice(-30)) process.stderr.write(`  | ${l}\n`);
  }
  return {
    kernel: '6.1', release: record.release, debVersion: record.debVersion, status: reason ? 'fail' : 'pass', reason,
    wallS, bootS, exitCode: exitCode ?? null, counts: c.counts, failures: c.failures, matrix: c.matrix, log,
  };
}

const fmt = (s) => (s === undefined ? '-' : `${s.toFixed(1)} s`);

async function main() {
  let files;
  try {
    files = testFiles();
  } catch (err) {
    say(err.message);
    process.exit(1);
  }
  say(`${set} set on ${kernels.join(', ')}: ${files.join(' ')}`);
  const results = [];
  for (const k of kernels) {
    say(`== ${k} ==`);
    results.push(k === 'host' ? await runHost(files) : await runGuest(files));
  }
  const summary = { set, files, timeoutS, accel: GUEST.accel, finishedAt: new Date().toISOString(), kernels: results };
  mkdirSync(join(root, 'build'), { recursive: true });
  writeFileSync(join(root, 'build/kernel-matrix.json'), JSON.stringify(summary, null, 2) + '\n');

  const out = ['', `kernel matrix (${set}: ${files.map((f) => f.split('/').pop()).join(', ')})`];
  for (const r of results) {
    const counts = r.counts && r.counts.tests !== undefined
      ? `  tests ${r.counts.tests}, pass ${r.counts.pass ?? 0}, fail ${r.counts.fail ?? 0}, skipped ${r.counts.skipped ?? 0}` : '';
    const boot = r.bootS !== undefined ? ` (boot ${fmt(r.bootS)})` : '';
    out.push(`  ${r.kernel.padEnd(5)} ${(r.release ?? '').padEnd(20)} ${r.status.toUpperCase().padEnd(7)} ${fmt(r.wallS)}${boot}${counts}`);
    if (r.reason) out.push(`        ${r.reason}`);
    const errors = [...new Set((r.failures ?? []).map((f) => f.error ?? `${f.test} (no error line)`))];
    for (const e of errors.slice(0, 3)) out.push(`        ${(r.failures ?? []).filter((f) => (f.error ?? `${f.test} (no error line)`) === e).length}× ${e}`);
    if (errors.length > 3) out.push(`        … and ${errors.length - 3} other errors (see the output above)`);
    for (const m of r.matrix) out.push(`        kernel-matrix: ${typeof m === 'string' ? m : JSON.stringify(m)}`);
  }
  out.push(`  summary: build/kernel-matrix.json`, '');
  process.stdout.write(out.join('\n') + '\n');
  process.exit(results.some((r) => r.status === 'fail') ? 1 : 0);
}

main().catch((err) => {
  say(`FAILED: ${err instanceof Error ? err.stack : String(err)}`);
  killAll();
  process.exit(1);
});
