// What the numbers were measured on: they mean little without it.
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';

export interface MachineInfo {
  nproc: number;
  cpu_model: string;
  memory_mib: number;
  kernel: string;
  node: string;
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) return m[1].trim();
  } catch { /* not Linux procfs: fall back to what libuv reports */ }
  return cpus()[0]?.model ?? 'unknown';
}

export function describeMachine(): MachineInfo {
  return {
    nproc: cpus().length,
    cpu_model: cpuModel(),
    memory_mib: Math.round(totalmem() / 2 ** 20),
    kernel: release(),
    node: process.version,
  };
}
