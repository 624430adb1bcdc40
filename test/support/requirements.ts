// Tests that need root, the kernel, Kafka or OPA skip on a developer machine without them, but on CI (CI=true)
// they fail loudly instead: nothing may skip silently there.
import type { TestContext } from 'node:test';

export const onCI = process.env.CI === 'true';

/** Returns true when the test may go on; otherwise skips it (locally) or throws (on CI). */
export function need(t: TestContext, ok: boolean, why: string): boolean {
  if (ok) return true;
  if (onCI) throw new Error(`required on CI: ${why}`);
  t.skip(why);
  return false;
}
