// The addon's failures ({errno, code, op, kind, log?}, see native/src/native_error.cc) as PalisadeError: the code is
// the one the addon decided (kind), and the message says what an operator can do about it.
import { PalisadeError } from '@palisade/common';
import type { NativeErrorFields } from './native.js';

export function isNativeError(err: unknown): err is NativeErrorFields {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as Partial<Record<keyof NativeErrorFields, unknown>>;
  return typeof e.errno === 'number' && typeof e.code === 'string' && typeof e.op === 'string' && typeof e.kind === 'string';
}

function logTail(log: string | undefined, lines = 12): string {
  if (log === undefined || log.trim() === '') return '';
  return `\n--- libbpf log (tail) ---\n${log.trimEnd().split('\n').slice(-lines).join('\n')}`;
}

/** Turns whatever the addon threw into a PalisadeError whose message says what to do about it. */
export function toPalisadeError(
  err: unknown, context: { objectPath?: string; uid?: number } = {},
): PalisadeError {
  if (err instanceof PalisadeError) return err;
  if (!isNativeError(err)) {
    return new PalisadeError('NATIVE_ERROR', `native addon failed: ${String(err)}`, { cause: err });
  }
  const code = err.kind;
  const permission = err.code === 'EPERM' || err.code === 'EACCES';
  const root = (context.uid ?? process.getuid?.()) === 0;
  let message: string;
  if (err.op === 'bpf_object__open_file' && err.code === 'ENOENT') {
    message = `BPF object not found at ${context.objectPath ?? '(unknown)'}: run node scripts/build-native.mjs`;
  } else if (permission && code !== 'BPF_POLL_FAILED' && !(root && err.op.startsWith('bpf_object__load'))) {
    // As root, EACCES/EPERM from the verifier is its verdict on a program (an out-of-bounds or missing-field read),
    // not a missing capability: that case falls through to the verifier's message below.
    message = `${err.op} was refused (${err.code}): the collector needs root, or CAP_BPF + CAP_PERFMON + CAP_SYS_RESOURCE`;
  } else if (err.op.startsWith('mount')) {
    message = `tracefs is not mounted at /sys/kernel/tracing and mounting it failed (${err.code}); mount it on the host`;
  } else if (err.op === 'bpf_object__load') {
    message = `the kernel's verifier refused a required BPF program (${err.code}); the libbpf log below says which and why. ` +
      'Run `palisade probe` to see what this kernel supports';
  } else if (err.op.startsWith('bpf_object__load(')) {
    message = `the kernel's verifier refused the required program ${err.op.slice('bpf_object__load('.length, -1)} (${err.code}); ` +
      'the libbpf log below says why. Run `palisade probe` to see what this kernel supports';
  } else if (err.op.startsWith('required program ')) {
    message = `${err.op}: this kernel lacks a hook the collector cannot run without. Run \`palisade probe\``;
  } else if (code === 'BPF_ATTACH_FAILED') {
    message = `${err.op} failed (${err.code}): this kernel lacks the hook or refuses this program type. Run \`palisade probe\``;
  } else if (code === 'BPF_POLL_FAILED') {
    message = `reading kernel events failed in ${err.op} (${err.code}); the session stopped polling`;
  } else {
    message = `${err.op} failed (${err.code})`;
  }
  return new PalisadeError(code, message + logTail(err.log), { cause: err, retriable: code === 'BPF_POLL_FAILED' });
}

