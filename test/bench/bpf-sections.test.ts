import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_OBJECT_PATH } from '@palisade/collector/dist/native.js';
import { bpfProgramSections } from './bpf-sections.js';

test('the collector object lists its hooks and nothing else', { skip: !existsSync(DEFAULT_OBJECT_PATH) && 'BPF object not built' }, () => {
  const sections = bpfProgramSections(DEFAULT_OBJECT_PATH);
  for (const hook of ['tracepoint/syscalls/sys_enter_openat', 'tracepoint/syscalls/sys_exit_openat', 'tp_btf/sched_process_exec']) {
    assert.ok(sections.includes(hook), `${hook} missing from ${sections.join(', ')}`);
  }
  for (const s of sections) {
    assert.match(s, /^[a-z_]+\/\S+$/, `${s} is not a program section`);
    assert.ok(!['.text', '.maps', '.rodata', 'license', '.BTF'].includes(s), `${s} is not a program section`);
  }
  assert.equal(new Set(sections).size, sections.length, 'a section listed twice');
});

test('a file that is not ELF is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bpf-sections-'));
  try {
    const path = join(dir, 'not-elf.o');
    writeFileSync(path, Buffer.alloc(128, 0x41));
    assert.throws(() => bpfProgramSections(path), /not an ELF file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
