#!/usr/bin/env node
// Generates services/common/{src,dist}/gen/palisade.{js,d.ts} from proto/ with protobufjs' CLI. The output is never edited
// by hand and never committed; setup runs this whenever a .proto is newer than the output.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const protos = readdirSync(join(root, 'proto/palisade/v1')).filter((f) => f.endsWith('.proto'))
  .map((f) => join(root, 'proto/palisade/v1', f));
const out = join(root, 'services/common/src/gen');
mkdirSync(out, { recursive: true });
const bin = (name) => join(root, 'node_modules/.bin', name);
execFileSync(bin('pbjs'), [
  '-t', 'static-module', '--es6', '-w', join(root, 'proto/codegen/pbjs-esm-wrapper.js'),
  '--dependency', 'protobufjs/minimal.js', '--force-number', '--no-verify', '--no-delimited',
  '-o', join(out, 'palisade.js'), ...protos,
], { stdio: 'inherit' });
execFileSync(bin('pbts'), ['-o', join(out, 'palisade.d.ts'), join(out, 'palisade.js')], { stdio: 'inherit' });
// tsc does not copy .js sources; the compiled proto.ts imports ./gen/palisade.js from dist/.
const dist = join(root, 'services/common/dist/gen');
mkdirSync(dist, { recursive: true });
for (const f of ['palisade.js', 'palisade.d.ts']) copyFileSync(join(out, f), join(dist, f));
