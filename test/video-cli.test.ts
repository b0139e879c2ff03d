import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { probeVideo } from '../src/video/index.js';
import { runCli } from './helpers/cli.js';
import { bandClassifierOnnx } from './helpers/expression-models.js';

describe('mien video', () => {
  let dir: string;
  let clip: string;
  let model: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mien-video-'));
    clip = join(dir, 'face.mp4');
    // one second of the face fixture at 5 fps, with a tone, so tracking and audio passthrough are both exercised
    execFileSync('ffmpeg', [
      '-v',
      'error',
      '-loop',
      '1',
      '-i',
      'test/fixtures/dnn-face.jpg',
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=440:duration=1',
      '-t',
      '1',
      '-r',
      '5',
      '-pix_fmt',
      'yuv420p',
      '-c:v',
      'libx264',
      '-c:a',
      'aac',
      '-shortest',
      clip,
    ]);
    model = join(dir, 'band.onnx');
    await writeFile(model, bandClassifierOnnx());
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  test('tracks the face through the clip, writes the annotated video with its audio and the JSON lines', async () => {
    const out = join(dir, 'annotated.mp4');
    const jsonl = join(dir, 'frames.jsonl');
    const r = await runCli(['video', clip, '--model', model, '--out', out, '--json', jsonl]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /5 frames \(5 analysed\), 5 face detections in 1 tracks/);
    const lines = (await readFile(jsonl, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(lines.length, 5);
    for (const line of lines) {
      assert.equal(line.faces.length, 1);
      assert.equal(line.faces[0].trackId, 1);
    }
    const info = await probeVideo(out);
    assert.ok(info.hasAudio);
    assert.ok(info.frameCount >= 5, `${info.frameCount} frames`);
  });

  test('--json - writes the JSON lines to stdout and the summary to stderr', async () => {
    const r = await runCli(['video', clip, '--model', model, '--json', '-']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(lines.length, 5);
    assert.equal(lines[0].frame, 0);
    assert.match(r.stderr, /5 frames \(5 analysed\).* → stdout/);
    assert.ok(!existsSync('-'), 'no file named -');
  });

  test('a video cut short is processed as far as it goes, with a warning', async () => {
    // the header (moved to the front) still announces 30 frames; half the bytes hold only the first few
    const full = join(dir, 'full.mp4');
    execFileSync(
      'ffmpeg',
      ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-t', '3'].concat([
        '-pix_fmt',
        'yuv420p',
        '-c:v',
        'libx264',
        '-movflags',
        '+faststart',
        full,
      ]),
    );
    const bytes = await readFile(full);
    const cut = join(dir, 'cut.mp4');
    await writeFile(cut, bytes.subarray(0, bytes.length / 2));
    const r = await runCli(['video', cut, '--model', model, '--detector', 'none', '--json', '-']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /warning: .*cut\.mp4: only \d+ of the ~30 frames its header announces could be decoded; the file looks cut short/,
    );
    assert.ok(r.stdout.trim().split('\n').length < 27, 'fewer frames than announced');
  });

  test('user mistakes get one line', async () => {
    const cases: [string[], RegExp][] = [
      [['video', clip, '--model', model], /needs --out/],
      [['video', join(dir, 'missing.mp4'), '--out', join(dir, 'x.mp4'), '--model', model], /missing\.mp4: no such file/],
      [['video', model, '--out', join(dir, 'y.mp4'), '--model', model], /not a video|no video stream/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
  });
});
