// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Test-only: a REQUIRED program on a hook no kernel has, linked with the real ones into
 * build/bpf/test/palisade-required-missing.bpf.o. Opening a session on it must fail, naming the program. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "palisade.h"

PAL_REQUIRED PAL_KIND(FILE_OP)
SEC("tracepoint/syscalls/sys_enter_palisade_no_such_syscall")
int pal_test_required_missing(void *ctx)
{
	return 0;
}
