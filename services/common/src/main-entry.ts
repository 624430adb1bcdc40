// Runs a service's main function when its file is the process entry point (also through npm's bin symlinks), and
// turns a startup failure into one clear line on stderr and exit code 1.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ConfigSources } from './config-schema.js';
import { errorMessage } from './errors.js';

export function runIfMain(importMetaUrl: string, name: string, main: (src: ConfigSources) => Promise<void>): void {
  const entry = process.argv[1];
  if (entry === undefined) return;
  let isMain = false;
  try { isMain = realpathSync(entry) === realpathSync(fileURLToPath(importMetaUrl)); } catch { isMain = false; }
  if (!isMain) return;
  main({ env: process.env, argv: process.argv.slice(2) }).catch((err: unknown) => {
    process.stderr.write(`${name}: ${errorMessage(err)}\n`);
    process.exit(1);
  });
}
