// The hooks a compiled BPF object attaches, read from its ELF section names (libbpf attaches by section name:
// "tracepoint/syscalls/sys_enter_openat", "tp_btf/sched_process_exec"...). The overhead bench builds its
// empty-program twin from this list, so the floor it measures follows bpf/ without anyone keeping a copy in sync.
import { readFileSync } from 'node:fs';

const SHT_PROGBITS = 1;
const SHF_EXECINSTR = 0x4;

/**
 * Names of the sections that hold BPF programs, in file order. `.text` is left out: it holds BPF-to-BPF
 * subprograms, which libbpf links into their callers and never attaches.
 */
export function bpfProgramSections(objectPath: string): string[] {
  const elf = readFileSync(objectPath);
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${objectPath} is not an ELF file`);
  // BPF objects are ELF64; the byte order is the target's (bpfel here, as clang -target bpf picks the host's).
  if (elf[4] !== 2) throw new Error(`${objectPath} is not ELF64`);
  const le = elf[5] === 1;
  const u16 = (o: number): number => (le ? elf.readUInt16LE(o) : elf.readUInt16BE(o));
  const u32 = (o: number): number => (le ? elf.readUInt32LE(o) : elf.readUInt32BE(o));
  const u64 = (o: number): number => Number(le ? elf.readBigUInt64LE(o) : elf.readBigUInt64BE(o));

  const shoff = u64(0x28);
  const shentsize = u16(0x3a);
  const shnum = u16(0x3c);
  const shstrndx = u16(0x3e);
  if (shoff === 0 || shnum === 0 || shoff + shnum * shentsize > elf.length) {
    throw new Error(`${objectPath}: no readable section header table`);
  }
  const header = (i: number): { name: number; type: number; flags: number; offset: number; size: number } => {
    const o = shoff + i * shentsize;
    return { name: u32(o), type: u32(o + 4), flags: u64(o + 8), offset: u64(o + 0x18), size: u64(o + 0x20) };
  };
  const strtab = header(shstrndx);
  const nameAt = (off: number): string => {
    const start = strtab.offset + off;
    const end = elf.indexOf(0, start);
    return elf.toString('latin1', start, end < 0 ? strtab.offset + strtab.size : end);
  };

  const out: string[] = [];
  for (let i = 1; i < shnum; i++) {
    const h = header(i);
    if (h.type !== SHT_PROGBITS || (h.flags & SHF_EXECINSTR) === 0 || h.size === 0) continue;
    const name = nameAt(h.name);
    if (name !== '.text') out.push(name);
  }
  return out;
}
