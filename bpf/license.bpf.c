// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The object's license, once: the linker would otherwise concatenate one per program file. GPL because
 * bpf_probe_read_* and bpf_perf_event_output are GPL-only helpers. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";
