export * from './compose.js';
export * from './config.js';
export { runCollector } from './main.js';
export { KERNEL_LOSS_COUNTERS } from './kernel-source.js';
export { runProbe, probeReport, formatProbe, type ProbeReport } from './probe.js';
