import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EMPTY_PROGRAM_PREFIX, emptyProgramsSource } from './empty-hooks.js';

test('one empty program per section, named so bpftool tells them apart', () => {
  const src = emptyProgramsSource(['tracepoint/syscalls/sys_enter_openat', 'tp_btf/sched_process_exec']);
  assert.match(src, new RegExp(`SEC\\("tracepoint/syscalls/sys_enter_openat"\\) int ${EMPTY_PROGRAM_PREFIX}0\\(void \\*ctx\\) \\{ return 0; \\}`));
  assert.match(src, new RegExp(`SEC\\("tp_btf/sched_process_exec"\\) int ${EMPTY_PROGRAM_PREFIX}1\\(`));
  assert.match(src, /SEC\("license"\) = "GPL"/);
  // bpftool shows 15 bytes of a program's name.
  assert.ok(`${EMPTY_PROGRAM_PREFIX}999`.length <= 15);
});

test('a section name that could break out of the C string is refused', () => {
  assert.throws(() => emptyProgramsSource(['tracepoint/x") int evil(void) { return 1; } SEC("y']), /unexpected BPF section/);
});
