// The benign workload corpus (issue 9, item 6): what ordinary containers do all day, each run as a pod's entrypoint
// (test/support/pod-cgroup.ts runEntrypoint: a shim parent, as on a node). Every rule must stay silent on all of it;
// benign.test.ts runs them through the embedded pipeline with the shipped rules and fails on any alert.
//
// A workload is a shell script (the most common container command: `sh -c "..."`) plus the files it needs, written
// into its own scratch directory. Nothing here reaches beyond loopback; anything installed goes under the scratch
// directory. Add a workload when a rule's false positive is found in the field: the corpus is the record of them.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Workload {
  name: string;
  /** What an ordinary container does here, and which rules it could trip if they were careless. */
  what: string;
  /** Writes the files the script needs into dir (its own scratch directory). */
  setup(dir: string, ctx: WorkloadContext): void;
  /** The entrypoint: argv run in the pod with cwd = dir. */
  argv(dir: string, ctx: WorkloadContext): string[];
}

export interface WorkloadContext {
  /** A loopback port nobody listens on, for a server the workload starts itself. */
  port: number;
  /** A directory under /var/log for this run (log rotation), removed afterwards. */
  logDir: string;
}

const PYTHON = '/usr/bin/python3';

function write(path: string, text: string, mode = 0o644): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  chmodSync(path, mode);
}

export const WORKLOADS: readonly Workload[] = [
  {
    name: 'npm-install-prefix',
    what: 'a package with a postinstall script (npm runs it with sh -c) installed into a prefix under /tmp, offline',
    setup(dir) {
      write(join(dir, 'pkg/package.json'), JSON.stringify({
        name: 'palisade-benign-pkg', version: '1.0.0', bin: { 'benign-tool': 'cli.js' },
        scripts: { postinstall: 'node -e "require(\'fs\').writeFileSync(\'built.txt\', \'ok\')"' },
      }));
      write(join(dir, 'pkg/cli.js'), '#!/usr/bin/env node\nconsole.log("hello");\n', 0o755);
      write(join(dir, 'install.sh'), [
        'set -e',
        'cd pkg && tarball=$(npm pack --silent) && cd ..',
        'npm install --prefix "$PWD/prefix" --offline --no-audit --no-fund --loglevel=error "./pkg/$tarball"',
        'test -f prefix/node_modules/palisade-benign-pkg/built.txt',
      ].join('\n'));
    },
    argv: (dir) => ['/bin/sh', join(dir, 'install.sh')],
  },
  {
    name: 'c-build-make',
    what: 'a C program compiled and installed by make with recipes (mkdir, cc, install), into a prefix',
    setup(dir) {
      write(join(dir, 'src/hello.c'), '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n');
      write(join(dir, 'src/Makefile'), [
        'PREFIX ?= /usr/local',
        'all: out/hello',
        'out/hello: hello.c',
        '\t@mkdir -p out',
        '\t$(CC) -O2 -Wall -o $@ $<',
        'install: all',
        '\tinstall -d $(PREFIX)/bin',
        '\tinstall -m 0755 out/hello $(PREFIX)/bin/hello',
        'clean:',
        '\trm -rf out',
        '.PHONY: all install clean',
        '',
      ].join('\n'));
    },
    argv: (dir) => ['/bin/sh', '-c', `cd ${dir}/src && make -s && make -s install PREFIX=${dir}/prefix && make -s clean`],
  },
  {
    name: 'python-test-suite',
    what: 'a unittest suite: temp files, JSON, threads and subprocess.run(..., shell=True) with a pipe',
    setup(dir) {
      write(join(dir, 'tests/test_app.py'), [
        'import json, os, subprocess, tempfile, threading, unittest',
        '',
        'class AppTest(unittest.TestCase):',
        '    def test_shell_pipeline(self):',
        '        out = subprocess.run("echo hello | tr a-z A-Z", shell=True, capture_output=True, text=True)',
        '        self.assertEqual(out.stdout.strip(), "HELLO")',
        '',
        '    def test_tempfile_roundtrip(self):',
        '        with tempfile.TemporaryDirectory() as d:',
        '            p = os.path.join(d, "data.json")',
        '            with open(p, "w") as f:',
        '                json.dump({"a": 1}, f)',
        '            with open(p) as f:',
        '                self.assertEqual(json.load(f), {"a": 1})',
        '',
        '    def test_threads(self):',
        '        seen = []',
        '        ts = [threading.Thread(target=seen.append, args=(i,)) for i in range(8)]',
        '        for t in ts: t.start()',
        '        for t in ts: t.join()',
        '        self.assertEqual(sorted(seen), list(range(8)))',
        '',
        '    def test_subprocess_argv(self):',
        '        out = subprocess.check_output(["ls", "-1", os.path.dirname(__file__)], text=True)',
        '        self.assertIn("test_app.py", out)',
        '',
      ].join('\n'));
    },
    argv: (dir) => [PYTHON, '-m', 'unittest', 'discover', '-s', join(dir, 'tests'), '-q'],
  },
  {
    name: 'web-server',
    what: 'an HTTP server on loopback serving 30 requests to a client in the same pod (a listener is not C2)',
    setup(dir, ctx) {
      write(join(dir, 'www/index.html'), '<h1>ok</h1>\n');
      write(join(dir, 'serve.sh'), [
        'set -e',
        `${PYTHON} -m http.server ${ctx.port} --bind 127.0.0.1 --directory "$PWD/www" 2>/dev/null &`,
        'server=$!',
        'i=0',
        `until curl -fsS -o /dev/null http://127.0.0.1:${ctx.port}/; do i=$((i+1)); [ $i -lt 100 ] || exit 1; sleep 0.1; done`,
        `for n in $(seq 1 30); do curl -fsS -o /dev/null http://127.0.0.1:${ctx.port}/index.html; done`,
        'kill $server',
        'wait $server || true',
      ].join('\n'));
    },
    argv: (dir) => ['/bin/sh', join(dir, 'serve.sh')],
  },
  {
    name: 'log-rotation',
    what: 'logrotate rotating an application log under /var/log: copytruncate, compress, rotate 2 (three rounds)',
    setup(dir, ctx) {
      write(join(dir, 'logrotate.conf'), [
        `${ctx.logDir}/app.log {`,
        '  rotate 2',
        '  copytruncate',
        '  compress',
        '  missingok',
        '  notifempty',
        '}',
        '',
      ].join('\n'));
      write(join(dir, 'rotate.sh'), [
        'set -e',
        'for round in 1 2 3; do',
        `  for n in $(seq 1 50); do echo "request $round.$n ok" >> ${ctx.logDir}/app.log; done`,
        `  logrotate --force --state "$PWD/logrotate.state" "$PWD/logrotate.conf"`,
        'done',
      ].join('\n'));
    },
    argv: (dir) => ['/bin/sh', join(dir, 'rotate.sh')],
  },
  {
    name: 'shell-scripting',
    what: 'bash with pipes, sub-shells, command substitution, while-read loops, find -exec, xargs, sort | uniq',
    setup(dir) {
      for (let i = 0; i < 20; i++) write(join(dir, `data/f${i}.txt`), `line ${i % 5}\nline ${i % 3}\n`);
      write(join(dir, 'script.sh'), [
        'set -eu',
        'count=$(find data -name "*.txt" | wc -l)',
        '[ "$count" -eq 20 ]',
        'find data -name "*.txt" -exec grep -l "line 1" {} \\; > matches.txt',
        'find data -type f -print0 | xargs -0 cat | sort | uniq -c | sort -rn > counts.txt',
        '( cd data && for f in *.txt; do wc -l < "$f"; done ) | awk \'{ s += $1 } END { print s }\' > total.txt',
        'while read -r n line; do echo "$line: $n"; done < counts.txt > report.txt',
        'result=$( (echo a; echo b) | tr "\\n" ",")',
        '[ "$result" = "a,b," ]',
        'sh -c \'exit 0\'',
      ].join('\n'));
    },
    argv: (dir) => ['/bin/bash', join(dir, 'script.sh')],
  },
  {
    name: 'node-startup',
    what: 'a Node service starting: reads its config, spawns a child with execSync, listens on loopback and exits',
    setup(dir, ctx) {
      write(join(dir, 'config.json'), JSON.stringify({ port: ctx.port }));
      write(join(dir, 'server.js'), [
        "const fs = require('fs'), http = require('http'), { execSync } = require('child_process');",
        "const cfg = JSON.parse(fs.readFileSync(__dirname + '/config.json', 'utf8'));",
        "execSync('ls -1 ' + __dirname, { stdio: 'ignore' });",
        "const srv = http.createServer((q, s) => s.end('ok')).listen(cfg.port, '127.0.0.1', () => {",
        "  http.get({ host: '127.0.0.1', port: cfg.port, path: '/' }, (r) => { r.resume(); r.on('end', () => srv.close()); });",
        '});',
      ].join('\n'));
    },
    argv: (dir) => ['/usr/bin/node', join(dir, 'server.js')],
  },
  {
    name: 'jvm-startup',
    what: 'a JVM starting (java -version and its settings dump): reads /proc, cgroup files, its own libraries',
    setup() {},
    argv: () => ['/usr/bin/java', '-XshowSettings:properties', '-version'],
  },
];
