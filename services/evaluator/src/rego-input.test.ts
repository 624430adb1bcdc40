import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pb, type palisade } from '@palisade/common';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { REGO_EVENT_KINDS, isRegoEventKind, regoEventKind, toRegoEvent, type RegoEvent } from './rego-input.js';

const CONTAINER_ID = '3f4e1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f';

const process: palisade.v1.IProcess = {
  pid: 4242,
  tid: 4243,
  ppid: 4200,
  uid: 1000,
  euid: 1000,
  gid: 1001,
  comm: 'cat',
  parentComm: 'python3',
  cgroupId: 73912,
  cgroupPath: `/kubepods.slice/cri-containerd-${CONTAINER_ID}.scope`,
  binary: '/usr/bin/cat',
  execId: '3f2a9c1e:4242:k81234567890123',
  ancestors: [
    { pid: 4200, binary: '/usr/bin/python3.11', comm: 'python3', execId: '3f2a9c1e:4200:p1234' },
    { pid: 1, binary: '/usr/bin/tini', comm: 'tini', execId: '3f2a9c1e:1:p1000' },
  ],
};

const pod: palisade.v1.IPod = {
  namespace: 'shop',
  name: 'web-7d9f8c6b5-x2x4q',
  uid: '6a1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
  labels: { app: 'web', tier: 'front' },
  owner: { kind: 'Deployment', name: 'web' },
  containerId: CONTAINER_ID,
  containerName: 'web',
  image: 'registry.example.com/shop/web:1.4.2',
  node: 'node-a',
  runtime: 'containerd',
};

function fileOpen(status: palisade.v1.EnrichmentStatus, podInfo: palisade.v1.IPod | null): palisade.v1.IEnrichedEvent {
  return {
    node: 'node-a',
    status,
    pod: podInfo,
    event: {
      kind: pb.EventKind.EVENT_KIND_FILE_OPEN,
      timeUnixNano: 1_700_000_000_123_456_800,
      cpu: 3,
      process,
      fileOpen: { path: '/etc/shadow', flags: 0o2000000, mode: 0, result: -13, syscall: 'openat' },
    },
  };
}

// Through the wire, so the test sees what the evaluator really gets: decoded messages with proto3 defaults.
function roundTrip(ev: palisade.v1.IEnrichedEvent): palisade.v1.EnrichedEvent {
  return pb.EnrichedEvent.decode(pb.EnrichedEvent.encode(ev).finish());
}

describe('regoEventKind', () => {
  it('names every kind the proto defines and nothing else', () => {
    assert.equal(regoEventKind(pb.EventKind.EVENT_KIND_PROCESS_EXEC), 'exec');
    assert.equal(regoEventKind(pb.EventKind.EVENT_KIND_PROCESS_EXIT), 'exit');
    assert.equal(regoEventKind(pb.EventKind.EVENT_KIND_FILE_OPEN), 'file_open');
    assert.equal(regoEventKind(pb.EventKind.EVENT_KIND_NET_CONNECT), 'net_connect');
    assert.equal(regoEventKind(pb.EventKind.EVENT_KIND_UNSPECIFIED), undefined);
    assert.equal(regoEventKind(99), undefined);
    assert.equal(regoEventKind(undefined), undefined);
    assert.equal(isRegoEventKind('file_open'), true);
    assert.equal(isRegoEventKind('FILE_OPEN'), false);
  });
});

describe('toRegoEvent', () => {
  it('builds the documented snake_case document for an enriched container event', () => {
    const want: RegoEvent = {
      kind: 'file_open',
      time_unix_nano: 1_700_000_000_123_456_800,
      node: 'node-a',
      process: {
        pid: 4242,
        ppid: 4200,
        uid: 1000,
        euid: 1000,
        gid: 1001,
        comm: 'cat',
        parent_comm: 'python3',
        binary: '/usr/bin/cat',
        cgroup_id: 73912,
        exec_id: '3f2a9c1e:4242:k81234567890123',
        parent_binary: '/usr/bin/python3.11',
        ancestors: [
          { pid: 4200, binary: '/usr/bin/python3.11', comm: 'python3', exec_id: '3f2a9c1e:4200:p1234' },
          { pid: 1, binary: '/usr/bin/tini', comm: 'tini', exec_id: '3f2a9c1e:1:p1000' },
        ],
      },
      file_open: { path: '/etc/shadow', flags: 0o2000000, result: -13, syscall: 'openat', sensitive_write: false,
        requested_path: '/etc/shadow', path_resolution: '', write_intent: false, o_trunc: false, o_append: false,
        o_creat: false, created: false, truncated_existing: false },
      container: { id: CONTAINER_ID, runtime: 'containerd' },
      pod: {
        namespace: 'shop',
        name: 'web-7d9f8c6b5-x2x4q',
        uid: '6a1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
        labels: { app: 'web', tier: 'front' },
        owner: { kind: 'Deployment', name: 'web' },
        image: 'registry.example.com/shop/web:1.4.2',
        container_name: 'web',
      },
    };
    const ev = fileOpen(pb.EnrichmentStatus.ENRICHMENT_STATUS_ENRICHED, pod);
    assert.deepEqual(toRegoEvent(ev), want);
    // JSON is how it reaches the wasm: the decoded message must give the same document, with no stray keys.
    assert.deepEqual(JSON.parse(JSON.stringify(toRegoEvent(roundTrip(ev)))), want);
  });

  it('keeps the container but not the pod when the enricher found no pod', () => {
    const r = toRegoEvent(
      roundTrip(fileOpen(pb.EnrichmentStatus.ENRICHMENT_STATUS_UNENRICHED, { containerId: CONTAINER_ID })),
    );
    assert.deepEqual(r?.container, { id: CONTAINER_ID, runtime: '' });
    assert.equal(r?.pod, null);
  });

  it('keeps a container without an id when UNENRICHED carries none', () => {
    const r = toRegoEvent(roundTrip(fileOpen(pb.EnrichmentStatus.ENRICHMENT_STATUS_UNENRICHED, null)));
    assert.deepEqual(r?.container, { id: '', runtime: '' });
    assert.equal(r?.pod, null);
  });

  it('has neither container nor pod for a host process', () => {
    const r = toRegoEvent(roundTrip(fileOpen(pb.EnrichmentStatus.ENRICHMENT_STATUS_HOST, null)));
    assert.equal(r?.container, null);
    assert.equal(r?.pod, null);
    const unspecified = toRegoEvent(fileOpen(pb.EnrichmentStatus.ENRICHMENT_STATUS_UNSPECIFIED, null));
    assert.equal(unspecified?.container, null);
  });

  it('takes the node from the pod when the event has none', () => {
    const ev = fileOpen(pb.EnrichmentStatus.ENRICHMENT_STATUS_ENRICHED, pod);
    assert.equal(toRegoEvent({ ...ev, node: '' })?.node, 'node-a');
  });

  it('maps the exec environment and the executable origin (issue 8)', () => {
    const exec = toRegoEvent(roundTrip({
      node: 'node-a', status: pb.EnrichmentStatus.ENRICHMENT_STATUS_HOST,
      event: {
        kind: pb.EventKind.EVENT_KIND_PROCESS_EXEC, process,
        exec: {
          filename: '/tmp/x', env: { LD_PRELOAD: '/tmp/evil.so', LD_AUDIT: '' }, envScanIncomplete: true,
          envValueTruncated: true, envCount: 201, envBytes: 4096, exeFsType: 'overlay', exeOnTmpfs: false,
          exeInTmpDir: true, exeOverlayLayer: pb.ExeOverlayLayer.EXE_OVERLAY_LAYER_UPPER,
          exeCtimeUnixNano: 1_700_000_001_000_000_000, containerStartUnixNano: 1_700_000_000_000_000_000,
          exeModifiedAfterContainerStart: true,
        },
      },
    }));
    assert.deepEqual(exec?.exec?.env, { LD_PRELOAD: '/tmp/evil.so', LD_AUDIT: '' });
    assert.equal(exec?.exec?.env_scan_incomplete, true);
    assert.equal(exec?.exec?.env_value_truncated, true);
    assert.equal(exec?.exec?.env_count, 201);
    assert.equal(exec?.exec?.env_bytes, 4096);
    assert.equal(exec?.exec?.exe_fs_type, 'overlay');
    assert.equal(exec?.exec?.exe_in_tmp_dir, true);
    assert.equal(exec?.exec?.exe_overlay_layer, 'upper');
    assert.equal(exec?.exec?.exe_modified_after_container_start, true);
    assert.equal(exec?.exec?.container_start_unix_nano, 1_700_000_000_000_000_000);
    assert.equal(exec?.exec?.exe_ctime_unix_nano, 1_700_000_001_000_000_000);
  });

  it('maps an exec\'s stdio sockets and passes fd_dup and net_socket socket() through', () => {
    const base = { node: 'node-a', status: pb.EnrichmentStatus.ENRICHMENT_STATUS_HOST };
    const exec = toRegoEvent(roundTrip({
      ...base,
      event: {
        kind: pb.EventKind.EVENT_KIND_PROCESS_EXEC, process,
        exec: { filename: '/bin/bash', argv: ['bash', '-i'], stdioSockets: [
          { fd: 0, family: 'inet', type: 'stream', protocol: 6, peerAddr: '203.0.113.7', peerPort: 4444, connected: true },
          { fd: 2, family: 'unix', type: 'stream', unixPath: '@x' },
        ] },
      },
    }));
    assert.deepEqual(exec?.exec?.stdio_sockets, [
      { fd: 0, family: 'inet', type: 'stream', protocol: 6, peer_addr: '203.0.113.7', peer_port: 4444, unix_path: '',
        connected: true, local_addr: '', local_port: 0 },
      { fd: 2, family: 'unix', type: 'stream', protocol: 0, peer_addr: '', peer_port: 0, unix_path: '@x',
        connected: false, local_addr: '', local_port: 0 },
    ]);
    const dup = toRegoEvent(roundTrip({
      ...base,
      event: { kind: pb.EventKind.EVENT_KIND_FD_DUP, process, fdDup: {
        syscall: 'dup2', oldFd: 3, newFd: 1, result: 1, family: 'inet', peerAddr: '203.0.113.7', peerPort: 4444,
        connected: true } },
    }));
    assert.equal(dup?.kind, 'fd_dup');
    assert.deepEqual(dup?.fd_dup, {
      syscall: 'dup2', old_fd: 3, new_fd: 1, result: 1, family: 'inet', type: '', protocol: 0,
      peer_addr: '203.0.113.7', peer_port: 4444, unix_path: '', flags: 0, connected: true, local_addr: '',
      local_port: 0,
    });
    const sock = toRegoEvent(roundTrip({
      ...base,
      event: { kind: pb.EventKind.EVENT_KIND_NET_SOCKET, process, netSocket: {
        syscall: 'socket', socketFamily: 'packet', socketType: 'raw', socketTypeFlags: 0x80000, socketProtocol: 768,
        result: 3 } },
    }));
    assert.equal(sock?.net_socket?.socket_family, 'packet');
    assert.equal(sock?.net_socket?.socket_type, 'raw');
    assert.equal(sock?.net_socket?.socket_protocol, 768);
  });

  it('passes io_uring through under its registry name (PAL-049 reads it)', () => {
    const ring = toRegoEvent(roundTrip({
      node: 'node-a', status: pb.EnrichmentStatus.ENRICHMENT_STATUS_HOST,
      event: { kind: pb.EventKind.EVENT_KIND_IO_URING, process, ioUring: { syscall: 'io_uring_setup', entries: 4, result: 3 } },
    }));
    assert.equal(ring?.kind, 'io_uring');
    assert.deepEqual(ring?.io_uring, { syscall: 'io_uring_setup', entries: 4, flags: 0, result: 3 });
  });

  it('maps exec, exit and net_connect payloads', () => {
    const base = { node: 'node-a', status: pb.EnrichmentStatus.ENRICHMENT_STATUS_HOST };
    const exec = toRegoEvent(roundTrip({
      ...base,
      event: {
        kind: pb.EventKind.EVENT_KIND_PROCESS_EXEC,
        process: { ...process, euid: 0 },
        exec: { filename: '/bin/sh', argv: ['sh', '-c', 'id'], argvTruncated: false, cgroupName: 'x.scope' },
      },
    }));
    assert.deepEqual(exec?.exec, {
      filename: '/bin/sh', argv: ['sh', '-c', 'id'], cwd: '', from_memfd: false, cap_effective: 0, stdio_sockets: [],
      env: {}, env_scan_incomplete: false, env_value_truncated: false, env_count: 0, env_bytes: 0, exe_fs_type: '',
      exe_on_tmpfs: false, exe_in_tmp_dir: false, exe_overlay_layer: '', exe_ctime_unix_nano: 0,
      container_start_unix_nano: 0, exe_modified_after_container_start: false,
    });
    assert.equal(exec?.process.euid, 0);
    assert.equal(exec?.kind, 'exec');

    const exit = toRegoEvent(roundTrip({
      ...base,
      event: { kind: pb.EventKind.EVENT_KIND_PROCESS_EXIT, process, exit: { exitCode: 1, signal: 9 } },
    }));
    assert.deepEqual(exit?.exit, { exit_code: 1, signal: 9 });

    const families: [palisade.v1.AddressFamily, string][] = [
      [pb.AddressFamily.ADDRESS_FAMILY_INET, 'inet'],
      [pb.AddressFamily.ADDRESS_FAMILY_INET6, 'inet6'],
      [pb.AddressFamily.ADDRESS_FAMILY_UNSPECIFIED, 'unspecified'],
    ];
    for (const [family, name] of families) {
      const net = toRegoEvent(roundTrip({
        ...base,
        event: {
          kind: pb.EventKind.EVENT_KIND_NET_CONNECT,
          process,
          netConnect: { family, daddr: '2001:db8::7', dport: 4444, result: -115, protocol: 'tcp' },
        },
      }));
      assert.deepEqual(net?.net_connect, { family: name, daddr: '2001:db8::7', dport: 4444, result: -115 });
    }
  });

  it('gives empty ancestry, not missing keys, for an event from a producer without the process cache', () => {
    const { execId: _e, ancestors: _a, ...older } = process;
    const r = toRegoEvent(roundTrip({ ...fileOpen(pb.EnrichmentStatus.ENRICHMENT_STATUS_HOST, null), event: {
      kind: pb.EventKind.EVENT_KIND_FILE_OPEN, process: older, fileOpen: { path: '/x' } } }));
    assert.equal(r?.process.exec_id, '');
    assert.equal(r?.process.parent_binary, '');
    assert.deepEqual(r?.process.ancestors, []);
    // A parent the collector could not resolve still has its pid and comm; parent_binary is then "".
    const partial = toRegoEvent(roundTrip({ event: {
      kind: pb.EventKind.EVENT_KIND_FILE_OPEN, process: { ...older, ancestors: [{ pid: 4200, comm: 'python3' }] } } }));
    assert.deepEqual(partial?.process.ancestors, [{ pid: 4200, binary: '', comm: 'python3', exec_id: '' }]);
    assert.equal(partial?.process.parent_binary, '');
  });

  it('gives rules the write intent and truncation facts of an open, and O_CREAT from its flags', () => {
    const r = toRegoEvent(roundTrip({ event: { kind: pb.EventKind.EVENT_KIND_FILE_OPEN, process, fileOpen: {
      path: '/var/log/auth.log', flags: 0o1101, result: 3, syscall: 'openat', writeIntent: true, oTrunc: true,
      truncatedExisting: true } } }));
    assert.equal(r?.file_open?.write_intent, true);
    assert.equal(r?.file_open?.o_trunc, true);
    assert.equal(r?.file_open?.o_creat, true);
    assert.equal(r?.file_open?.o_append, false);
    assert.equal(r?.file_open?.created, false);
    assert.equal(r?.file_open?.truncated_existing, true);
  });

  it('passes a file_op link, symlink or truncation through with its new fields', () => {
    const r = toRegoEvent(roundTrip({ event: { kind: pb.EventKind.EVENT_KIND_FILE_OP, process, fileOp: {
      syscall: 'symlinkat', path: '/etc/shadow', newPath: '/tmp/x/innocent', symlinkText: '../../etc/shadow' } } }));
    assert.equal(r?.file_op?.symlink_text, '../../etc/shadow');
    assert.equal(r?.file_op?.path, '/etc/shadow');
    assert.equal(r?.file_op?.length, 0);
    const t = toRegoEvent(roundTrip({ event: { kind: pb.EventKind.EVENT_KIND_FILE_OP, process, fileOp: {
      syscall: 'ftruncate', path: '/var/log/auth.log', length: 0, fd: 3 } } }));
    assert.equal(t?.file_op?.fd, 3);
    assert.equal(t?.file_op?.symlink_text, '');
  });

  it('rejects events without a raw event or with an unknown kind', () => {
    assert.equal(toRegoEvent({ node: 'node-a' }), undefined);
    assert.equal(toRegoEvent({ event: { kind: pb.EventKind.EVENT_KIND_UNSPECIFIED, process } }), undefined);
  });

  it('passes the new kinds through as their proto message with snake_case keys and defaults filled in', () => {
    const r = toRegoEvent(roundTrip({ node: 'node-a', event: {
      kind: pb.EventKind.EVENT_KIND_PRIV_SETID, process,
      privSetid: { syscall: 'setuid', requestedReal: 0, requestedEffective: -1, oldReal: 1000, newReal: 0, result: 0 } } }));
    assert.equal(r?.kind, 'priv_setid');
    assert.deepEqual(r?.priv_setid, {
      syscall: 'setuid', requested_real: 0, requested_effective: -1, requested_saved: 0, old_real: 1000,
      old_effective: 0, old_saved: 0, new_real: 0, new_effective: 0, result: 0,
    });
    const dns = toRegoEvent({ event: { kind: pb.EventKind.EVENT_KIND_DNS_QUERY, process,
      dnsQuery: { name: 'example.com', qtype: 1, qtypeName: 'A' } } });
    assert.equal(dns?.kind, 'dns_query');
    assert.equal(dns?.dns_query?.name, 'example.com');
    assert.equal(dns?.dns_query?.qtype_name, 'A');
  });
});

describe('the policy build', () => {
  it('accepts exactly the event kinds the Rego input has: both come from the ABI registry', () => {
    const abi = JSON.parse(readFileSync(fileURLToPath(new URL('../../../build/abi.json', import.meta.url)), 'utf8')) as
      { kinds: { name: string }[] };
    assert.deepEqual(abi.kinds.map((k) => k.name).sort(), [...REGO_EVENT_KINDS].sort());
  });
});
