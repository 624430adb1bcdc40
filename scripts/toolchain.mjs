// Where the toolchain is. No side effects: setup.mjs and test.mjs both import it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

function output(cmd, argv) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** go from PATH, else where the Go tarball installs it (a non-login shell may not have it on PATH). */
export function goBin() {
  if (output('go', ['version'])) return 'go';
  if (existsSync('/usr/local/go/bin/go')) return '/usr/local/go/bin/go';
  throw new Error('Go is needed to build the OPA compiler and was not found (PATH, /usr/local/go/bin)');
}

export function opaPath() {
  if (process.env.OPA_BIN) return process.env.OPA_BIN;
  const go = output('go', ['version']) ? 'go' : '/usr/local/go/bin/go';
  const gobin = output(go, ['env', 'GOBIN']) || join(output(go, ['env', 'GOPATH']) || '/root/go', 'bin');
  return join(gobin, 'opa');
}

