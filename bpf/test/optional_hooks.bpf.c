// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Test-only programs, linked with the real ones into build/bpf/test/palisade-optional.bpf.o (never shipped): an
 * optional program on a hook no kernel has, and one the verifier refuses. A session must leave both out, say why in
 * programs(), and attach everything else. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "palisade.h"

PAL_KIND(FILE_OP)
SEC("tracepoint/syscalls/sys_enter_palisade_no_such_syscall")
int pal_test_missing_hook(void *ctx)
{
	return 0;
}

/* A load through a scalar: "invalid mem access 'scalar'", EACCES from the verifier on every kernel. */
PAL_KIND(FILE_OP)
SEC("tracepoint/syscalls/sys_enter_getppid")
int pal_test_refused(void *ctx)
{
	return *(volatile int *)(long)bpf_get_prandom_u32();
}
