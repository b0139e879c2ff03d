/**
 * `mien serve` under load on loopback: the server runs in its own process (as users run it) and autocannon posts a
 * real photo from many clients at once. First one client alone (the unloaded latency, for comparison), then the load.
 * It checks that the server never fails — every answer is a 200 or a deliberate 503 (queue full), no connection error,
 * no timeout — that it still answers /healthz afterwards and that SIGTERM stops it cleanly, and samples its resident
 * memory. Exit code 1 when any check fails.
 *
 *   npm run bench:serve -- [--model fast] [--connections 200] [--duration 30] [--photo test/fixtures/dnn-face.jpg]
 *                          [--concurrency 1] [--queue 32]
 */
import { readFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import autocannon, { type Result } from 'autocannon';
import { startServe } from './serve-process.js';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'fast' },
    connections: { type: 'string', default: '200' },
    duration: { type: 'string', default: '30' },
    photo: { type: 'string', default: 'test/fixtures/dnn-face.jpg' },
    concurrency: { type: 'string', default: '1' },
    queue: { type: 'string', default: '32' },
  },
});
/** How long the single client runs before the load, in seconds. */
const BASELINE_SECONDS = 5;
/** How often the server's resident memory is read, in milliseconds. */
const RSS_INTERVAL = 250;

const photo = await readFile(args.photo);
const server = await startServe(['--model', args.model, '--concurrency', args.concurrency, '--queue', args.queue]);
const { url, rssMiB } = server;

interface Phase {
  name: string;
  connections: number;
  seconds: number;
  result: Result;
  /** Response times in milliseconds by HTTP status. */
  times: Map<number, number[]>;
  peakRss: number;
}

async function load(name: string, connections: number, seconds: number): Promise<Phase> {
  let peakRss = await rssMiB();
  const sampler = setInterval(
    () =>
      void rssMiB().then(
        (r) => (peakRss = Math.max(peakRss, r)),
        () => {},
      ),
    RSS_INTERVAL,
  );
  const times = new Map<number, number[]>();
  const run = autocannon({
    url: `${url}/v1/recognize`,
    method: 'POST',
    headers: { 'content-type': 'image/jpeg' },
    body: photo,
    connections,
    duration: seconds,
    timeout: 30,
  });
  run.on('response', (_client, status, _bytes, ms) => {
    if (!times.has(status)) times.set(status, []);
    times.get(status)!.push(ms);
  });
  const result = await run;
  clearInterval(sampler);
  return { name, connections, seconds, result, times, peakRss };
}

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const latencies = (times: number[] | undefined): string => {
  if (!times?.length) return '–';
  const sorted = [...times].sort((a, b) => a - b);
  return `${percentile(sorted, 50).toFixed(0)} / ${percentile(sorted, 99).toFixed(0)}`;
};

const loadAtStart = loadavg()[0]!;
const idleRss = await rssMiB();
const phases = [
  await load('one client', 1, BASELINE_SECONDS),
  await load(`${args.connections} clients`, Number(args.connections), Number(args.duration)),
];
const health = await fetch(`${url}/healthz`).then(
  (r) => r.status,
  (err: Error) => err.message,
);
const afterRss = await rssMiB();
const exitCode = await server.stop();

console.log(
  `mien serve --model ${args.model} --concurrency ${args.concurrency} --queue ${args.queue}; POST ${args.photo} (${(photo.length / 1024).toFixed(1)} KiB) to ${url}/v1/recognize`,
);
console.log(`${availableParallelism()} cores, load average ${loadAtStart.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end`);
console.log('');
console.log(
  '| clients | seconds | answers | 200 | 503 (queue full) | other / errors / timeouts | answers/s | recognitions/s | ms p50 / p99, 200s | ms p50 / p99, 503s | peak RSS |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
const failures: string[] = [];
for (const p of phases) {
  const counts = p.result.statusCodeStats;
  const ok = counts['200']?.count ?? 0;
  const busy = counts['503']?.count ?? 0;
  const other = Object.entries(counts).filter(([status]) => status !== '200' && status !== '503');
  const answers = Object.values(counts).reduce((sum, c) => sum + c.count, 0);
  const problems = other.reduce((sum, [, c]) => sum + c.count, 0) + p.result.errors + p.result.timeouts;
  if (problems > 0)
    failures.push(
      `${p.name}: ${JSON.stringify({ other: Object.fromEntries(other), errors: p.result.errors, timeouts: p.result.timeouts })}`,
    );
  if (ok === 0) failures.push(`${p.name}: no image was recognized`);
  const seconds = p.result.duration;
  console.log(
    `| ${p.connections} | ${p.seconds} | ${answers} | ${ok} | ${busy} | ${problems} | ${(answers / seconds).toFixed(1)} | ${(ok / seconds).toFixed(1)} | ${latencies(p.times.get(200))} | ${latencies(p.times.get(503))} | ${p.peakRss.toFixed(0)} MiB |`,
  );
}
console.log('');
const [single, loaded] = phases as [Phase, Phase];
console.log(
  `resident memory: ${idleRss.toFixed(0)} MiB idle, peak ${single.peakRss.toFixed(0)} MiB with one client, ${loaded.peakRss.toFixed(0)} MiB with ${loaded.connections} (${(loaded.peakRss / single.peakRss).toFixed(2)}×), ${afterRss.toFixed(0)} MiB after`,
);
const recognitionRate = (p: Phase) => (p.result.statusCodeStats['200']?.count ?? 0) / p.result.duration;
console.log(`recognitions/s under load vs one client: ${(recognitionRate(loaded) / recognitionRate(single)).toFixed(2)}×`);
console.log(`after the load: GET /healthz ${health}; SIGTERM → exit code ${exitCode}`);
if (health !== 200) failures.push(`/healthz answered ${health}`);
if (exitCode !== 0) failures.push(`the server exited with ${exitCode}: ${server.stderr().trim()}`);
if (failures.length > 0) {
  console.error(`FAILED:\n${failures.join('\n')}`);
  process.exitCode = 1;
}
