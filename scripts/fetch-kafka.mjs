#!/usr/bin/env node
// Fetches the jars of Apache Kafka 3.9.1 (see deploy/kafka/pom.xml) from Maven Central into
// .cache/kafka/kafka-3.9.1/libs with Maven, for test/kafka/broker.ts. Idempotent: a marker file records the hash of
// the pom the jars came from, so a second run takes milliseconds and a changed pom fetches again. The jars land in a
// temp dir first and are renamed into place, so an interrupted fetch never leaves a half-filled libs/.
//
//   node scripts/fetch-kafka.mjs          fetch if needed, print what was done
//   node scripts/fetch-kafka.mjs --force  fetch again
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const KAFKA_VERSION = '3.9.1';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pom = join(root, 'deploy/kafka/pom.xml');
const home = join(root, '.cache/kafka', `kafka-${KAFKA_VERSION}`);
const libs = join(home, 'libs');
const marker = join(home, '.fetched');
const force = process.argv.includes('--force');

const pomHash = createHash('sha256').update(readFileSync(pom)).digest('hex');

function have(cmd, args) {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

if (!force && existsSync(marker) && readFileSync(marker, 'utf8').trim() === pomHash) {
  const jars = readdirSync(libs).filter((f) => f.endsWith('.jar')).length;
  console.log(`kafka ${KAFKA_VERSION}: present (${jars} jars in ${relative(root, libs)}), nothing to do`);
  process.exit(0);
}

for (const [cmd, args, hint] of [
  ['java', ['-version'], 'install a JRE 17+ (Debian: apt-get install openjdk-17-jre-headless)'],
  ['mvn', ['-v'], 'install Maven 3.8+ (Debian: apt-get install maven)'],
]) {
  if (!have(cmd, args)) {
    console.error(`fetch-kafka: \`${cmd}\` not found on PATH; ${hint}`);
    process.exit(1);
  }
}

const started = Date.now();
const staging = join(root, '.cache/kafka', `.staging-${process.pid}`);
rmSync(staging, { recursive: true, force: true });
mkdirSync(staging, { recursive: true });
console.log(`kafka ${KAFKA_VERSION}: fetching jars with Maven (deploy/kafka/pom.xml) ...`);
try {
  // outputDirectory must be absolute: Maven resolves a relative one against the pom's folder, not the cwd.
  execFileSync('mvn', ['-q', '-B', '-f', pom, 'dependency:copy-dependencies', `-DoutputDirectory=${join(staging, 'libs')}`],
    { stdio: 'inherit' });
} catch (err) {
  rmSync(staging, { recursive: true, force: true });
  console.error(`fetch-kafka: mvn failed (${err instanceof Error ? err.message : String(err)})`);
  process.exit(1);
}
const jars = readdirSync(join(staging, 'libs')).filter((f) => f.endsWith('.jar'));
if (!jars.some((f) => f === `kafka_2.13-${KAFKA_VERSION}.jar`)) {
  rmSync(staging, { recursive: true, force: true });
  console.error(`fetch-kafka: mvn finished but kafka_2.13-${KAFKA_VERSION}.jar is not among the ${jars.length} jars`);
  process.exit(1);
}
writeFileSync(join(staging, '.fetched'), `${pomHash}\n`);
rmSync(home, { recursive: true, force: true });
renameSync(staging, home);
console.log(`kafka ${KAFKA_VERSION}: fetched ${jars.length} jars into ${relative(root, libs)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
