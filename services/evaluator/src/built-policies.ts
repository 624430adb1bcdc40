// For the evaluator's tests: builds policies/ (scripts/build-policies.mjs, a no-op when current) before a suite that
// loads the real rules. Returns false to run the suite, or skipUnless's reason when no opa binary is installed
// (which fails the suite on CI); any other build failure throws with opa's output.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { skipUnless } from '@palisade/common/testing';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const EXIT_NO_OPA = 3;

export function buildPolicies(): string | false {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts/build-policies.mjs'), '--quiet'], { encoding: 'utf8' });
  if (r.status === 0) return false;
  if (r.status === EXIT_NO_OPA) return skipUnless(false, `policies not built: ${r.stderr.trim()}`);
  throw new Error(`scripts/build-policies.mjs failed (${r.status}):\n${r.stderr}${r.stdout}`);
}
