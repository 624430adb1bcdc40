// Triggers for the rules that close evasions (PAL-049 ..): techniques done the way an attacker who knows the other
// rules does them, with the same safety rules as triggers.ts (scratch directory, loopback, nothing kept).
import { existsSync, readFileSync } from 'node:fs';
import type { Trigger } from './triggers.js';

const PYTHON = '/usr/bin/python3';

/**
 * Python: opens `path` read-only through an io_uring IORING_OP_OPENAT (no openat syscall at all: the kernel opens it
 * for the ring), checks the completion and closes the fd without reading. Raw syscalls and mmap, no liburing.
 */
export function pyIoUringOpen(path: string): string {
  return 'import ctypes, mmap, os, struct\nlibc = ctypes.CDLL(None, use_errno=True)\n' +
    'p = ctypes.create_string_buffer(120)\nring = libc.syscall(425, 4, p)\nassert ring >= 0, os.strerror(ctypes.get_errno())\n' +
    'sqn, cqn = struct.unpack_from("=II", p, 0)\nsq = struct.unpack_from("=8I", p, 40)\ncq = struct.unpack_from("=8I", p, 80)\n' +
    'sqm = mmap.mmap(ring, sq[6] + sqn * 4, offset=0)\ncqm = mmap.mmap(ring, cq[5] + cqn * 16, offset=0x8000000)\n' +
    'sqes = mmap.mmap(ring, sqn * 64, offset=0x10000000)\n' +
    `path = ctypes.create_string_buffer(${JSON.stringify(path)}.encode())\n` +
    // IORING_OP_OPENAT = 18, dirfd AT_FDCWD, addr = the path, open_flags = O_RDONLY, user_data = 7.
    'sqes[0:64] = struct.pack("=BBHiQQIIQ", 18, 0, 0, -100, 0, ctypes.addressof(path), 0, os.O_RDONLY, 7).ljust(64, b"\\0")\n' +
    'struct.pack_into("=I", sqm, sq[6], 0)\nstruct.pack_into("=I", sqm, sq[1], struct.unpack_from("=I", sqm, sq[1])[0] + 1)\n' +
    'assert libc.syscall(426, ring, 1, 1, 1, None, 0) == 1, os.strerror(ctypes.get_errno())\n' +
    'head = struct.unpack_from("=I", cqm, cq[0])[0]\n' +
    'user, res, _ = struct.unpack_from("=QiI", cqm, cq[5] + (head & cq[2]) * 16)\nassert user == 7, user\n' +
    'if res >= 0: os.close(res)\nos.close(ring)\n';
}

/** Why io_uring cannot be shown here, or undefined when it can. */
export function ioUringUnavailable(): string | undefined {
  const traced = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'].some((t) =>
    existsSync(`${t}/events/syscalls/sys_enter_io_uring_setup`));
  if (!traced) return 'this kernel has no io_uring_setup tracepoint (CONFIG_IO_URING=n)';
  try {
    if (readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim() === '2') return 'io_uring is disabled (kernel.io_uring_disabled=2)';
  } catch {
    // Kernels before 6.6 have no such sysctl: io_uring is on.
  }
  return undefined;
}

export const EVASION_TRIGGERS: readonly Trigger[] = [
  {
    rule: 'PAL-049',
    technique: 'T1562.001',
    what: 'opens /etc/shadow through an io_uring IORING_OP_OPENAT (no openat syscall for PAL-001 to see)',
    unavailable: ioUringUnavailable,
    run: async (ctx) => [await ctx.run([PYTHON, '-c', pyIoUringOpen('/etc/shadow')])],
  },
];
