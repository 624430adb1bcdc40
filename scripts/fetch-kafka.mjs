#!/usr/bin/env node
// Fetches the jars of one Apache Kafka broker (deploy/kafka/pom.xml) from Maven Central into
// .cache/kafka/kafka-<version>/libs with Maven, for test/kafka/broker.ts, and records that directory in
// .cache/kafka/current. Idempotent: a marker file holds the hash of the pom and version the jars came from, so a second
// run takes milliseconds and a changed pom or version fetches again. The jars land in a staging dir first and are
// renamed into place, so an interrupted fetch never leaves a half-filled libs/.
//
//   node scripts/fetch-kafka.mjs [--quiet] [--force]
//   --quiet  say nothing when the jars are already there      --force  fetch again
// The version is PALISADE_KAFKA_VERSION (scripts/setup.mjs passes its pin), else the pom's kafka.version. Keep it
// on 3.x: kafkajs 2.2.4 speaks request versions that Kafka 4.0 removed, and the pom's logging binding is for 3.x.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const quiet = args.includes('--quiet');
const force = args.includes('--force');
const say = (msg) => process.stderr.write(`kafka: ${msg}\n`);
const die = (msg) => {
  process.stderr.write(`fetch-kafka: ${msg}\n`);
  process.exit(1);
};

const pom = join(root, 'deploy/kafka/pom.xml');
const pomText = readFileSync(pom, 'utf8');
const pomVersion = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pomText)?.[1];
const version = process.env.PALISADE_KAFKA_VERSION || pomVersion;
if (!version) die('no <kafka.version> in deploy/kafka/pom.xml and no PALISADE_KAFKA_VERSION');
if (!/^3\.\d+\.\d+$/.test(version)) die(`Kafka ${version} is not a 3.x release; see the note at the top of this script`);

const cache = join(root, '.cache/kafka');
const home = join(cache, `kafka-${version}`);
const libs = join(home, 'libs');
const marker = join(home, '.fetched');
const current = join(cache, 'current');
const stamp = createHash('sha256').update(pomText).update(`\0${version}`).digest('hex');

function pointCurrent() {
  const want = `kafka-${version}\n`;
  if (!existsSync(current) || readFileSync(current, 'utf8') !== want) writeFileSync(current, want);
}

if (!force && existsSync(marker) && readFileSync(marker, 'utf8').trim() === stamp) {
  pointCurrent();
  if (!quiet) {
    const jars = readdirSync(libs).filter((f) => f.endsWith('.jar')).length;
    say(`${version} present (${jars} jars in ${relative(root, libs)}), nothing to do`);
  }
  process.exit(0);
}

for (const [cmd, argv, hint] of [
  ['java', ['-version'], 'install a JRE 17+ (Debian: apt-get install openjdk-17-jre-headless)'],
  ['mvn', ['-v'], 'install Maven 3.8+ (Debian: apt-get install maven)'],
]) {
  const r = spawnSync(cmd, argv, { stdio: 'ignore' });
  if (r.error || r.status !== 0) die(`\`${cmd}\` not found on PATH; ${hint}`);
}

const started = Date.now();
const staging = join(cache, `.staging-${process.pid}`);
rmSync(staging, { recursive: true, force: true });
mkdirSync(staging, { recursive: true });
say(`fetching ${version} jars with Maven (deploy/kafka/pom.xml) ...`);
// outputDirectory must be absolute: Maven resolves a relative one against the pom's folder, not the cwd. Output is
// captured (Maven's console styling leaks escape codes even with -q) and shown only when mvn fails.
const mvn = spawnSync('mvn', [
  '-q', '-B', '-f', pom, `-Dkafka.version=${version}`,
  'dependency:copy-dependencies', `-DoutputDirectory=${join(staging, 'libs')}`,
], { encoding: 'utf8' });
if (mvn.status !== 0) {
  rmSync(staging, { recursive: true, force: true });
  const output = `${mvn.stdout ?? ''}${mvn.stderr ?? ''}`.replace(/\x1b\[[0-9;]*m/g, '').trim();
  die(`mvn failed (exit ${mvn.status ?? mvn.signal})${output ? `:\n${output}` : ''}`);
}
const jars = readdirSync(join(staging, 'libs')).filter((f) => f.endsWith('.jar'));
if (!jars.includes(`kafka_2.13-${version}.jar`)) {
  rmSync(staging, { recursive: true, force: true });
  die(`mvn finished but kafka_2.13-${version}.jar is not among the ${jars.length} jars`);
}
writeFileSync(join(staging, '.fetched'), `${stamp}\n`);
rmSync(home, { recursive: true, force: true });
renameSync(staging, home);
pointCurrent();
say(`fetched ${jars.length} jars into ${relative(root, libs)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
