/**
 * `mien serve` soaked: 200 clients at once for a bounded time, each sending one kind of request over and over —
 * good photos, huge photos (12 megapixels, half of them asking for faces too small to search for), malformed
 * requests (damaged images, broken multipart bodies, bodies over the limit, JSON) and slow clients that trickle their
 * request in. The server runs in its own process, as users run it. Prints requests/s and p50/p99 per kind, the answers
 * by status and error code, and the server's resident memory over time. Exit code 1 when any answer is a 5xx other
 * than a deliberate 503, a client gets a connection error, or memory goes over the server's cap.
 *
 *   npm run bench:soak -- [--seconds 30] [--clients 200] [--max-memory 2048]
 */
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { startServe } from './serve-process.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '30' },
    clients: { type: 'string', default: '200' },
    'max-memory': { type: 'string', default: '2048' },
  },
});
const seconds = Number(args.seconds);
const clients = Number(args.clients);
/** Server settings: a short request timeout so that the slow clients' fate (408) is seen within the soak. */
const TIMEOUT_S = 10;
const BODY_LIMIT_MIB = 8;

const photo = await readFile('test/fixtures/dnn-face.jpg');
const huge = await sharp({ create: { width: 4000, height: 3000, channels: 3, background: '#786e64' } })
  .composite([{ input: photo, left: 1500, top: 1000 }])
  .jpeg()
  .toBuffer();

const server = await startServe(['--timeout', String(TIMEOUT_S), '--max-body', String(BODY_LIMIT_MIB), '--max-memory', args['max-memory']]);
const { url, rssMiB } = server;
const { hostname, port } = new URL(url);

/** One request of a kind: its status and answer's error code, or the connection error it met. */
type Outcome = { status: number; code?: string } | { failure: string };

const post = async (body: Buffer | string, type: string, query = ''): Promise<Outcome> => {
  const r = await fetch(`${url}/v1/recognize${query}`, { method: 'POST', headers: { 'content-type': type }, body });
  const answer = (await r.json().catch(() => ({}))) as { error?: string };
  return { status: r.status, code: answer.error };
};

const multipart = (boundary: string, ...files: Buffer[]) =>
  Buffer.concat([
    ...files.map((f, i) =>
      Buffer.concat([
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="f${i}"; filename="f${i}.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`,
        ),
        f,
        Buffer.from('\r\n'),
      ]),
    ),
    Buffer.from(`--${boundary}--\r\n`),
  ]);
const malformed = [
  () => post(photo.subarray(0, photo.length / 3), 'image/jpeg'),
  () => post('not an image', 'image/png'),
  () => post('{"image": "photo.jpg"}', 'application/json'),
  () => post(multipart('x', photo), 'multipart/form-data; boundary=y'),
  () => post(multipart('x', photo, photo), 'multipart/form-data; boundary=x'),
  () => post(multipart('x', photo).subarray(0, 300), 'multipart/form-data; boundary=x'),
  // The server may answer 413 and close before the client has sent it all: the client then sees its write fail.
  () =>
    post(Buffer.alloc(BODY_LIMIT_MIB * 1024 * 1024 + 1), 'image/jpeg').catch((err: Error): Outcome => {
      const code = (err.cause as NodeJS.ErrnoException | undefined)?.code;
      if (code === 'EPIPE' || code === 'ECONNRESET') return { status: 413, code: 'closed mid-upload (over the body limit)' };
      throw err;
    }),
  () => post(photo, 'image/jpeg', '?min-face=-3'),
];

/** A client that sends its headers and then a byte of body every second: the server should give up on it (408). */
const slow = (): Promise<Outcome> =>
  new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let answer = '';
    const drip = setInterval(() => socket.write('x'), 1000);
    socket.on('connect', () =>
      socket.write(`POST /v1/recognize HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n`),
    );
    socket.on('data', (b: Buffer) => (answer += b));
    const done = (outcome: Outcome) => {
      clearInterval(drip);
      socket.destroy();
      resolve(outcome);
    };
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(answer)?.[1]);
      done(status ? { status, code: /"error":"(\w+)"/.exec(answer)?.[1] } : { failure: 'closed without an answer' });
    });
    socket.on('error', (err) => done({ failure: (err as NodeJS.ErrnoException).code ?? err.message }));
  });

const kinds: Record<string, { share: number; send: (i: number) => Promise<Outcome> }> = {
  good: { share: 0.75, send: () => post(photo, 'image/jpeg') },
  'huge (12 MP; half at min-face 16)': {
    share: 0.1,
    send: (i) => post(huge, 'image/jpeg', i % 2 ? '?min-face=16' : ''),
  },
  malformed: { share: 0.1, send: (i) => malformed[i % malformed.length]!() },
  slow: { share: 0.05, send: () => slow() },
};

interface Tally {
  times: number[];
  answers: Map<string, number>;
}
const tallies = new Map<string, Tally>(Object.keys(kinds).map((k) => [k, { times: [], answers: new Map() }]));
const deadline = performance.now() + seconds * 1000;

async function client(kind: string, index: number): Promise<void> {
  const tally = tallies.get(kind)!;
  for (let i = index; performance.now() < deadline; i++) {
    const started = performance.now();
    const outcome = await kinds[kind]!.send(i).catch((err: Error): Outcome => ({
      failure: (err.cause as Error | undefined)?.message ?? err.message,
    }));
    tally.times.push(performance.now() - started);
    const key = 'failure' in outcome ? `connection: ${outcome.failure}` : `${outcome.status}${outcome.code ? ` ${outcome.code}` : ''}`;
    tally.answers.set(key, (tally.answers.get(key) ?? 0) + 1);
  }
}

const idleRss = await rssMiB();
const timeline: { second: number; rss: number }[] = [];
const started = performance.now();
const sampler = setInterval(
  () =>
    void rssMiB().then(
      (rss) => timeline.push({ second: (performance.now() - started) / 1000, rss }),
      () => {},
    ),
  250,
);
const loadAtStart = loadavg()[0]!;
const assigned = Object.entries(kinds).flatMap(([kind, { share }]) =>
  Array.from({ length: Math.max(1, Math.round(share * clients)) }, (_, i) => client(kind, i)),
);
await Promise.all(assigned);
clearInterval(sampler);
const health = await fetch(`${url}/healthz`).then(
  (r) => r.status,
  (err: Error) => err.message,
);
const exitCode = await server.stop();

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
console.log(
  `mien serve --timeout ${TIMEOUT_S} --max-body ${BODY_LIMIT_MIB} --max-memory ${args['max-memory']}; ${assigned.length} clients for ${seconds} s`,
);
console.log(`${availableParallelism()} cores, load average ${loadAtStart.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end`);
console.log('');
console.log('| requests | clients | requests/s | ms p50 / p99 | answers |');
console.log('|---|---|---|---|---|');
const failures: string[] = [];
for (const [kind, { share }] of Object.entries(kinds)) {
  const { times, answers } = tallies.get(kind)!;
  const sorted = [...times].sort((a, b) => a - b);
  const list = [...answers].sort((a, b) => b[1] - a[1]).map(([key, n]) => `${key}: ${n}`);
  console.log(
    `| ${kind} | ${Math.max(1, Math.round(share * clients))} | ${(times.length / seconds).toFixed(1)} | ${percentile(sorted, 50).toFixed(0)} / ${percentile(sorted, 99).toFixed(0)} | ${list.join(', ')} |`,
  );
  for (const [key, n] of answers)
    if (key.startsWith('connection') || (/^5\d\d/.test(key) && !key.startsWith('503'))) failures.push(`${kind}: ${key} × ${n}`);
}
console.log('');
const peak = Math.max(idleRss, ...timeline.map((t) => t.rss));
const buckets = Array.from({ length: Math.ceil(seconds / 5) }, (_, b) => {
  const inBucket = timeline.filter((t) => t.second >= b * 5 && t.second < (b + 1) * 5).map((t) => t.rss);
  return inBucket.length ? `${b * 5}–${(b + 1) * 5} s: ${Math.max(...inBucket).toFixed(0)}` : undefined;
}).filter(Boolean);
console.log(`resident memory (MiB): idle ${idleRss.toFixed(0)}, peak ${peak.toFixed(0)}; highest per 5 s: ${buckets.join(' · ')}`);
console.log(`after the soak: GET /healthz ${health}; SIGTERM → exit code ${exitCode}`);
if (peak > Number(args['max-memory']) * 1.25) failures.push(`resident memory ${peak.toFixed(0)} MiB, over the cap`);
if (health !== 200) failures.push(`/healthz answered ${health}`);
if (exitCode !== 0) failures.push(`the server exited with ${exitCode}: ${server.stderr().trim()}`);
if (failures.length > 0) {
  console.error(`FAILED:\n${failures.join('\n')}`);
  process.exitCode = 1;
}
