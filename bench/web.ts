/**
 * Frames per second of the live webcam page in headless Chromium, with one face: the page as `mien web` serves it,
 * its camera a fake one playing the webcam clip at 60 fps (so the camera is not what limits the rate). Each
 * configuration runs in turn, round after round, so they share the machine's conditions and compare as ratios:
 *
 *   npm run bench:web -- [--model lite|fast|file.onnx] [--against fast] [--rounds 2] [--warmup 8] [--seconds 10] [--screenshot docs/web-screenshot.png]
 *
 * `--against` adds the page with another shipped model (its model menu) to the rounds, for the classification time of
 * one model against the other's in the same run.
 *
 * A run warms up first (V8 compiles onnxruntime's wasm with its baseline compiler, then optimises the hot code over
 * the first seconds), then counts the frames analysed and drawn in the measured seconds. The stage times are the
 * page's own readouts (means over its last 30 frames), sampled each second.
 *
 * Human's own browser build runs in the same rounds on the same camera (bench/human-page.ts): its face detector and
 * emotion model on tfjs-wasm, once with its defaults (which reuse a face's box and emotion over similar frames) and
 * once analysing every frame as mien's page does, and on WebGL (Chromium's software GL here). The ratios printed at
 * the end are mien's default page against each.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { buildWebApp, chromiumMissing, fakeCameraClip, launchWithFakeCamera, startWebServer } from '../test/helpers/web-page.js';
import { startHumanPage } from './human-page.js';

const { values } = parseArgs({
  options: {
    /** Default: the page's own (`mien web` without --model). */
    model: { type: 'string' },
    against: { type: 'string' },
    rounds: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '10' },
    screenshot: { type: 'string' },
  },
});
const rounds = Number(values.rounds);
const warmupMs = Number(values.warmup) * 1000;
const measureMs = Number(values.seconds) * 1000;

interface Configuration {
  name: string;
  /** Query string of the page. */
  query: string;
  /** Tick "find faces far away too": both detector models instead of the short-range one. */
  far: boolean;
}

/** The page's defaults first (wasm threads: half the cores), then one change each. */
const CONFIGURATIONS: Configuration[] = [
  { name: 'default', query: '', far: false },
  { name: '2 wasm threads', query: '?threads=2', far: false },
  { name: 'far faces too', query: '', far: true },
  ...(values.against ? [{ name: `model ${values.against}`, query: `?model=${encodeURIComponent(values.against)}`, far: false }] : []),
];
const STAGES = ['detect', 'classify', 'draw', 'capture'] as const;

/** Human's page (bench/human-page.ts) with its query. */
const HUMAN_CONFIGURATIONS = [
  { name: 'Human, wasm, its defaults', query: '?backend=wasm' },
  { name: 'Human, wasm, every frame', query: '?backend=wasm&every=1' },
  { name: 'Human, webgl, every frame', query: '?backend=webgl&every=1' },
];

interface Measurement {
  fps: number;
  stages: Record<(typeof STAGES)[number], number>;
}

async function measure(browser: Browser, url: string, configuration: Configuration, screenshot?: string): Promise<Measurement> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const page: Page = await context.newPage();
  try {
    await page.goto(url + configuration.query);
    await page.waitForSelector('body[data-state="ready"]', { timeout: 60_000 });
    if (configuration.far) await page.check('#far');
    await page.click('#camera');
    await page.waitForSelector('#faces li', { timeout: 60_000 });
    await page.waitForTimeout(warmupMs);
    const frames = async () => Number(await page.getAttribute('#fps', 'data-frames'));
    const startFrames = await frames();
    const started = performance.now();
    const samples: number[][] = [];
    while (performance.now() - started < measureMs) {
      await page.waitForTimeout(1000);
      samples.push(await Promise.all(STAGES.map(async (s) => parseFloat((await page.textContent(`#t-${s}`))!))));
    }
    const fps = ((await frames()) - startFrames) / ((performance.now() - started) / 1000);
    const faces = await page.locator('#faces li').count();
    if (faces !== 1) throw new Error(`${configuration.name}: ${faces} faces on the page at the end, expected 1`);
    if (screenshot) await page.screenshot({ path: screenshot });
    const mean = (i: number) => samples.reduce((sum, s) => sum + s[i]!, 0) / samples.length;
    return { fps, stages: Object.fromEntries(STAGES.map((s, i) => [s, mean(i)])) as Measurement['stages'] };
  } finally {
    await context.close();
  }
}

/** Frames per second of Human's page, counted as for mien's page; it must see the one face. */
async function measureHuman(browser: Browser, url: string, query: string): Promise<number> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const page = await context.newPage();
  try {
    await page.goto(url + query);
    await page.waitForSelector('body[data-state="running"]', { timeout: 120_000 });
    await page.waitForTimeout(warmupMs);
    const frames = async () => Number(await page.textContent('#frames'));
    const startFrames = await frames();
    const started = performance.now();
    await page.waitForTimeout(measureMs);
    const fps = ((await frames()) - startFrames) / ((performance.now() - started) / 1000);
    const faces = Number(await page.textContent('#faces'));
    if (faces !== 1) throw new Error(`Human ${query}: ${faces} faces at the end, expected 1`);
    return fps;
  } finally {
    await context.close();
  }
}

/** What the page says it runs on with its defaults ("wasm, 1 thread"). */
async function backendOf(browser: Browser, url: string): Promise<string> {
  const page = await browser.newPage();
  try {
    await page.goto(url);
    await page.waitForSelector('body[data-state="ready"]', { timeout: 60_000 });
    return `${(await page.textContent('#backend'))!}, model ${(await page.textContent('#model'))!}`;
  } finally {
    await page.close();
  }
}

const format = (m: Measurement) => `${m.fps.toFixed(1)} fps (${STAGES.map((s) => `${s} ${m.stages[s].toFixed(1)} ms`).join(', ')})`;

const missing = chromiumMissing();
if (missing) throw new Error(missing);
const dir = await mkdtemp(join(tmpdir(), 'mien-bench-web-'));
await buildWebApp();
const server = await startWebServer(values.model ? ['--model', values.model] : []);
const human = await startHumanPage();
const browser = await launchWithFakeCamera(fakeCameraClip(dir, 2, 60));
try {
  console.log(
    `webcam page in headless Chromium ${browser.version()}: fake camera 640×360 at 60 fps, one face; model ${values.model ?? 'the default'}`,
  );
  console.log(`the page: ${await backendOf(browser, server.url)}`);
  console.log(
    `${availableParallelism()} cores, load average ${loadavg()[0]!.toFixed(1)} at the start; warm-up ${warmupMs / 1000} s, then ${measureMs / 1000} s measured per run`,
  );
  const results = new Map<Configuration, Measurement[]>(CONFIGURATIONS.map((c) => [c, []]));
  const humanFps = new Map(HUMAN_CONFIGURATIONS.map((c) => [c, [] as number[]]));
  for (let round = 1; round <= rounds; round++) {
    for (const configuration of CONFIGURATIONS) {
      const shoot = round === 1 && configuration === CONFIGURATIONS[0] ? values.screenshot : undefined;
      const m = await measure(browser, server.url, configuration, shoot);
      results.get(configuration)!.push(m);
      console.log(`round ${round}: ${configuration.name}: ${format(m)}`);
    }
    for (const configuration of HUMAN_CONFIGURATIONS) {
      const fps = await measureHuman(browser, human.url, configuration.query);
      humanFps.get(configuration)!.push(fps);
      console.log(`round ${round}: ${configuration.name}: ${fps.toFixed(1)} fps`);
    }
  }
  const means = new Map<Configuration, Measurement>();
  for (const [configuration, runs] of results) {
    const avg = (f: (m: Measurement) => number) => runs.reduce((sum, m) => sum + f(m), 0) / runs.length;
    const m = {
      fps: avg((r) => r.fps),
      stages: Object.fromEntries(STAGES.map((s) => [s, avg((r) => r.stages[s])])) as Measurement['stages'],
    };
    means.set(configuration, m);
    console.log(`mean: ${configuration.name}: ${format(m)}`);
  }
  const [defaults, twoThreads, far] = CONFIGURATIONS.map((c) => means.get(c)!.fps);
  console.log(
    `frames per second against the default: 2 threads ${(twoThreads! / defaults!).toFixed(2)}×, far faces too ${(far! / defaults!).toFixed(2)}×`,
  );
  if (values.against) {
    const [mine, theirs] = [CONFIGURATIONS[0]!, CONFIGURATIONS.at(-1)!].map((c) => means.get(c)!.stages.classify);
    console.log(
      `classification per frame, model ${values.model ?? 'the default'} against ${values.against}: ${mine!.toFixed(2)} against ${theirs!.toFixed(2)} ms, ${(mine! / theirs!).toFixed(2)}×`,
    );
  }
  for (const [configuration, runs] of humanFps) {
    const fps = runs.reduce((a, b) => a + b, 0) / runs.length;
    console.log(`mean: ${configuration.name}: ${fps.toFixed(1)} fps; mien's default page ${(defaults! / fps).toFixed(2)}× that`);
  }
  console.log(`load average ${loadavg()[0]!.toFixed(1)} at the end`);
  if (values.screenshot) console.log(`wrote ${values.screenshot}`);
} finally {
  await browser.close();
  await server.stop();
  await human.stop();
  await rm(dir, { recursive: true, force: true });
}
