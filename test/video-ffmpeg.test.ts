import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import {
  createVideoWriter,
  NEEDS_FFMPEG,
  probeVideo,
  processVideo,
  readFrames,
  VideoError,
  type FrameRecord,
  type VideoFrame,
} from '../src/video/index.js';

const run = promisify(execFile);
const ffmpeg = (...args: string[]) => run('ffmpeg', ['-v', 'error', '-y', ...args]);

let dir: string;
/** 160×120, 10 fps, 1 s, with a 440 Hz tone. */
let clip: string;
/** 64×48 plain red, 10 fps, 1 s, no audio. */
let red: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mien-video-'));
  clip = join(dir, 'clip.mp4');
  red = join(dir, 'red.mp4');
  await Promise.all([
    ffmpeg(
      '-f',
      'lavfi',
      '-i',
      'testsrc=size=160x120:rate=10',
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=440:duration=1',
      '-t',
      '1',
      '-c:v',
      'libx264',
      '-pix_fmt',
      'yuv420p',
      '-c:a',
      'aac',
      clip,
    ),
    ffmpeg('-f', 'lavfi', '-i', 'color=c=red:size=64x48:rate=10', '-t', '1', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', red),
  ]);
});

after(() => rm(dir, { recursive: true, force: true }));

const collect = async (frames: AsyncIterable<VideoFrame>): Promise<VideoFrame[]> => {
  const all = [];
  for await (const f of frames) all.push(f);
  return all;
};

const childProcesses = (): number => process.getActiveResourcesInfo().filter((r) => r === 'ProcessWrap').length;

test('probeVideo: size, frame rate, length, audio', async () => {
  const info = await probeVideo(clip);
  assert.equal(info.width, 160);
  assert.equal(info.height, 120);
  assert.equal(info.frameRate, '10/1');
  assert.equal(info.fps, 10);
  assert.equal(info.frameCount, 10);
  assert.ok(Math.abs(info.duration - 1) < 0.05, `duration ${info.duration}`);
  assert.equal(info.rotation, 0);
  assert.equal(info.hasAudio, true);
  assert.equal((await probeVideo(red)).hasAudio, false);
});

test('readFrames: every frame, right size and colour; every N picks frames 0, N, 2N', async () => {
  const frames = await collect(readFrames(clip));
  assert.equal(frames.length, 10);
  assert.deepEqual(
    frames.map((f) => f.index),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  );
  assert.deepEqual(
    frames.map((f) => f.timeSeconds),
    [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
  );
  for (const f of frames) {
    assert.equal(f.width, 160);
    assert.equal(f.height, 120);
    assert.equal(f.data.length, 160 * 120 * 3);
  }
  assert.notDeepEqual(frames[0]!.data, frames[5]!.data, 'testsrc moves: each frame is its own picture');

  const every3 = await collect(readFrames(clip, { every: 3 }));
  assert.deepEqual(
    every3.map((f) => f.index),
    [0, 3, 6, 9],
  );
  assert.deepEqual(every3[2]!.data, frames[6]!.data, 'the same pixels as frame 6 read in full');

  const [first] = await collect(readFrames(red));
  const [r, g, b] = first!.data;
  assert.ok(r! > 230 && g! < 30 && b! < 30, `red decodes as RGB (${r}, ${g}, ${b})`);
});

test('readFrames: a consumer that stops early ends ffmpeg', async () => {
  const long = join(dir, 'long.mp4');
  await ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25', '-t', '20', '-c:v', 'libx264', '-preset', 'ultrafast', long);
  const before = childProcesses();
  const startedAt = performance.now();
  let seen = 0;
  for await (const frame of readFrames(long)) {
    assert.equal(frame.index, seen);
    if (++seen === 3) break;
  }
  // libuv releases a killed child's handle a moment after its exit event: give it up to a second
  for (let i = 0; i < 20 && childProcesses() > before; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(childProcesses(), before, 'no ffmpeg left running');
  assert.ok(performance.now() - startedAt < 5000, 'did not decode all 500 frames first');
});

test('readFrames: a quarter-turned video comes out upright', async (t) => {
  const rotated = join(dir, 'rotated.mp4');
  await ffmpeg('-i', clip, '-c', 'copy', '-metadata:s:v:0', 'rotate=90', rotated);
  const info = await probeVideo(rotated);
  // ffmpeg 6 and later ignore the `rotate` tag on output; there is nothing to test without a rotated file
  if (info.rotation === 0) return t.skip('this ffmpeg does not write rotation from the rotate tag');
  assert.equal(info.rotation % 180, 90);
  assert.deepEqual([info.width, info.height], [120, 160]);
  const frames = await collect(readFrames(rotated, { every: 5 }));
  assert.equal(frames.length, 2);
  assert.deepEqual([frames[0]!.width, frames[0]!.height, frames[0]!.data.length], [120, 160, 120 * 160 * 3]);
});

test('createVideoWriter: H.264 with the audio of another file; probing the result', async () => {
  const frames = await collect(readFrames(clip));
  const out = join(dir, 'written.mp4');
  const writer = await createVideoWriter(out, { width: 160, height: 120, fps: 10, audioFrom: clip });
  for (const f of frames) await writer.write(f.data);
  await writer.close();
  const info = await probeVideo(out);
  assert.deepEqual([info.width, info.height, info.fps, info.frameCount, info.hasAudio], [160, 120, 10, 10, true]);
  const { stdout } = await run('ffprobe', [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-show_entries',
    'stream=codec_name,pix_fmt',
    '-of',
    'csv=p=0',
    out,
  ]);
  assert.equal(stdout.trim(), 'h264,yuv420p');
  assert.deepEqual(
    (await readdir(dir)).filter((n) => n.includes('.tmp')),
    [],
    'no temporary file left',
  );

  const silent = join(dir, 'silent.mp4');
  const noAudio = await createVideoWriter(silent, { width: 160, height: 120, fps: 10, audioFrom: red });
  for (const f of frames) await noAudio.write(f.data);
  await noAudio.close();
  assert.equal((await probeVideo(silent)).hasAudio, false, 'audio from a file without any: none, and no error');
});

test('createVideoWriter: odd sizes are padded to even; wrong frame sizes are refused', async () => {
  const out = join(dir, 'odd.mp4');
  const writer = await createVideoWriter(out, { width: 33, height: 21, fps: 5 });
  await assert.rejects(writer.write(new Uint8Array(10)), /frame has 10 bytes, expected 33×21×3 = 2079/);
  for (let i = 0; i < 5; i++) await writer.write(new Uint8Array(33 * 21 * 3).fill(i * 50));
  await writer.close();
  const info = await probeVideo(out);
  assert.deepEqual([info.width, info.height, info.frameCount, info.hasAudio], [34, 22, 5, false]);
});

test('createVideoWriter: an output folder that does not exist is a one-line VideoError', async () => {
  const out = join(dir, 'missing-folder', 'out.mp4');
  const writer = await createVideoWriter(out, { width: 16, height: 16, fps: 5 });
  const frame = new Uint8Array(16 * 16 * 3);
  const failure = (async () => {
    for (let i = 0; i < 50; i++) await writer.write(frame);
    await writer.close();
  })();
  await assert.rejects(
    failure,
    (err: Error) =>
      err instanceof VideoError && err.message.startsWith(`${out}: ffmpeg could not write it (`) && !err.message.includes('\n'),
  );
});

test('processVideo: tracks a moving face, smooths, annotates, keeps the audio, writes JSON Lines', async () => {
  const out = join(dir, 'annotated.mp4');
  const jsonl = join(dir, 'frames.jsonl');
  const analyzed: number[] = [];
  const progress: Array<[number, number]> = [];
  // what happened, in order: each frame's record must reach onFrame before the next frame is analysed
  const events: string[] = [];
  // A fake detector: one face sliding right; its expression switches from happy to sad halfway.
  const summary = await processVideo(clip, {
    out,
    jsonl,
    every: 2,
    smoothing: { alpha: 0.4 },
    analyze: async (frame) => {
      analyzed.push(frame.index);
      events.push(`analyse ${frame.index}`);
      const probabilities = Array.from({ length: 7 }, (_, c) => (c === (frame.index < 5 ? 3 : 4) ? 0.94 : 0.01));
      return [{ box: { x: 20 + frame.index * 4, y: 30, width: 60, height: 60 }, probabilities }];
    },
    // paint the face box white so the result shows it was drawn and encoded
    annotate: async (frame, faces) => {
      for (const { box } of faces) {
        for (let y = Math.round(box.y); y < Math.round(box.y + box.height); y++) {
          frame.data.fill(255, (y * frame.width + Math.round(box.x)) * 3, (y * frame.width + Math.round(box.x + box.width)) * 3);
        }
      }
      return frame.data;
    },
    onFrame: async (record) => {
      events.push(`record ${record.frame}`);
    },
    onProgress: (done, total) => progress.push([done, total]),
  });

  assert.deepEqual(analyzed, [0, 2, 4, 6, 8]);
  assert.deepEqual(
    events,
    [0, 2, 4, 6, 8].flatMap((i) => [`analyse ${i}`, `record ${i}`]),
  );
  assert.deepEqual([summary.frames, summary.expectedFrames, summary.analyzedFrames, summary.faces, summary.tracks], [10, 10, 5, 5, 1]);
  assert.ok(summary.fps > 0 && summary.seconds > 0);
  assert.deepEqual(progress.at(-1), [10, 10]);
  assert.equal(progress.length, 10);

  const records = (await readFile(jsonl, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as FrameRecord);
  assert.deepEqual(
    records.map((r) => r.frame),
    [0, 2, 4, 6, 8],
  );
  assert.deepEqual(
    records.map((r) => r.time),
    [0, 0.2, 0.4, 0.6, 0.8],
  );
  assert.ok(records.every((r) => r.faces.length === 1 && r.faces[0]!.trackId === 1));
  // happy 0.94 for frames 0, 2, 4, then sad 0.94. At frame 6 the EMA still says happy (0.4·0.01 + 0.6·0.94 = 0.568
  // against sad 0.4·0.94 + 0.6·0.01 = 0.382); at frame 8 sad 0.4·0.94 + 0.6·0.382 = 0.6052 wins: a little lag, no flicker.
  assert.deepEqual(
    records.map((r) => r.faces[0]!.expression),
    ['happy', 'happy', 'happy', 'happy', 'sad'],
  );
  const frame6 = records[3]!.faces[0]!.probabilities;
  assert.deepEqual([frame6.happy, frame6.sad], [0.568, 0.382]);
  assert.equal(records[4]!.faces[0]!.probabilities.sad, 0.6052);

  const info = await probeVideo(out);
  assert.deepEqual([info.width, info.height, info.frameCount, info.hasAudio], [160, 120, 10, true]);
  const frames = await collect(readFrames(out));
  // frame 3 is encoded with frame 2's smoothed box, x = 0.7·28 + 0.3·20 = 25.6 to 85.6, y = 30 to 90: (55, 60) is inside
  const centre = (frames[3]!.width * 60 + 55) * 3;
  assert.ok(frames[3]!.data[centre]! > 235 && frames[3]!.data[centre + 1]! > 235, 'the annotation is in the encoded video');
});

test('processVideo: a failing analysis leaves no output behind', async () => {
  const out = join(dir, 'never.mp4');
  await assert.rejects(
    processVideo(clip, {
      out,
      analyze: async (frame) => {
        if (frame.index === 4) throw new Error('detector crashed');
        return [];
      },
    }),
    /detector crashed/,
  );
  assert.deepEqual(
    (await readdir(dir)).filter((n) => n.includes('never')),
    [],
  );
});

test('bad inputs are one-line VideoErrors naming the file', async () => {
  const song = join(dir, 'song.wav');
  await ffmpeg('-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', song);
  const fake = join(dir, 'fake.mp4');
  await writeFile(fake, 'this is not a video\n');
  const missing = join(dir, 'video.mp4');
  const cases: Array<[string, string]> = [
    [missing, `${missing}: no such file`],
    [song, `${song}: has no video stream`],
    [fake, `${fake}: not a video ffmpeg can read (Invalid data found when processing input)`],
    [dir, `${dir}: is a folder, not a video`],
  ];
  for (const [path, message] of cases) {
    await assert.rejects(probeVideo(path), (err: Error) => err instanceof VideoError && err.message === message, path);
    await assert.rejects(collect(readFrames(path)), { message }, `readFrames ${path}`);
    await assert.rejects(processVideo(path, { analyze: async () => [] }), { message }, `processVideo ${path}`);
  }
});

test('without ffmpeg on the PATH: says how to install it', async () => {
  const path = process.env.PATH;
  process.env.PATH = join(dir, 'no-bin');
  try {
    await assert.rejects(probeVideo(clip), (err: Error) => err instanceof VideoError && err.message === NEEDS_FFMPEG);
  } finally {
    process.env.PATH = path;
  }
  assert.equal(NEEDS_FFMPEG, 'needs ffmpeg: sudo apt-get install -y ffmpeg');
});
