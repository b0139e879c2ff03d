/**
 * Outcomes that used to be silent or misleading: an evaluation over no faces, a model that emits NaN, symbolic links,
 * unreadable files and folders, empty class folders, and `mien eval --strict`. Each gets a clear error, a warning or
 * a non-zero exit.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, test } from 'node:test';
import { FACE_PIXELS } from '../src/core/labels.js';
import { facesToInput } from '../src/data/dataset.js';
import { loadFaces, summarizeProblems } from '../src/data/index.js';
import { loadExpressionModel } from '../src/recognize/expression-model.js';
import { runCli, type CliResult } from './helpers/cli.js';
import { patternFace, useTempDir, writeFacePng } from './helpers/data-fixtures.js';
import { bandClassifierOnnx, nanClassifierOnnx } from './helpers/expression-models.js';
import { syntheticFaces, writeFer2013Csv } from './helpers/synthetic.js';

const tempDir = useTempDir('outcomes');
const path = (...parts: string[]) => join(tempDir(), ...parts);
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** The user nobody: root reads a chmod-000 file all the same, so a test run as root denies reads by running as it. */
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;

/**
 * `mien ...args` as a user that chmod 000 locks out: this one when it is not root, else nobody. The paths it needs
 * (the temp folder, the repository) must be readable by others.
 */
function runCliUnprivileged(args: string[]): Promise<CliResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(isRoot ? { uid: NOBODY, gid: NOBODY } : {}),
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b));
  child.stderr.on('data', (b: Buffer) => (stderr += b));
  return new Promise((resolve) => {
    child.on('error', (err) => resolve({ code: null, signal: null, stdout, stderr: err.message }));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/**
 * Why the run as nobody could not take place, if it could not: spawning as another user takes the right to change
 * user (CAP_SETUID), which a container's root may lack, and nobody must be able to read the checkout (a clone in a
 * 0700 temporary folder is not).
 */
function unprivilegedUnavailable(r: CliResult): string | undefined {
  if (!isRoot) return undefined;
  if (r.code === null && /EPERM/.test(r.stderr)) return 'running as root, and cannot run the CLI as the user nobody to deny it reads';
  if (/ERR_MODULE_NOT_FOUND|EACCES: permission denied, (open|scandir|lstat) '[^']*node_modules/.test(r.stderr))
    return `running as root, and the user nobody cannot read this checkout (${repoRoot}) to run the CLI`;
  return undefined;
}

const stderrLines = (r: CliResult): string[] => r.stderr.trimEnd().split('\n');

describe('silent or misleading outcomes', () => {
  let model: string;
  before(async () => {
    // others may read the temp folder: the unprivileged runs below must reach the model and the photos in it
    await chmod(tempDir(), 0o755);
    model = path('band.onnx');
    await writeFile(model, bandClassifierOnnx());
    await writeFile(path('nan.onnx'), nanClassifierOnnx());
    await writeFile(path('nan-calibrated.onnx'), nanClassifierOnnx({ 'mien.temperature': '1.5' }));
  });

  describe('mien eval with nothing to score', () => {
    test('class folders whose images are all unreadable: one line naming the first skipped file, exit 1', async () => {
      const root = path('all-bad');
      await mkdir(join(root, 'happy'), { recursive: true });
      await mkdir(join(root, 'sad'), { recursive: true });
      await writeFile(join(root, 'happy', 'a.png'), 'not a png');
      await writeFile(join(root, 'sad', 'b.png'), 'not a png either');
      const r = await runCli(['eval', '--model', model, '--data', root]);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, '', 'no scores printed');
      assert.deepEqual(stderrLines(r), [
        `mien: ${root} has no usable faces to evaluate: skipped 2 bad files (first: ${join(root, 'happy', 'a.png')}: not an image (or a format sharp cannot read))`,
      ]);
    });

    test('a CSV whose rows are all bad: one line, exit 1, not an accuracy of 0', async () => {
      const csv = path('all-bad.csv');
      await writeFile(csv, 'emotion,pixels,Usage\n3,1 2 3,PrivateTest\n9,4 5 6,PrivateTest\n');
      const r = await runCli(['eval', '--model', model, '--data', csv]);
      assert.equal(r.code, 1, r.stderr);
      assert.doesNotMatch(r.stdout, /accuracy/);
      const lines = stderrLines(r);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, new RegExp(`^mien: ${csv} has no usable faces to evaluate: skipped 2 bad rows \\(first: ${csv}:2: `));
    });
  });

  describe('a model that emits NaN', () => {
    const faces = facesToInput(syntheticFaces(3), 0, 3);

    test('classify and logits throw a ModelError naming the file, with or without a temperature', async () => {
      for (const name of ['nan.onnx', 'nan-calibrated.onnx']) {
        const nan = await loadExpressionModel(path(name), { threads: 1 });
        const error = {
          name: 'ModelError',
          message: `${path(name)} produced NaN/infinite scores: the model is damaged or was exported from a diverged run`,
        };
        await assert.rejects(nan.classify(faces), error);
        await assert.rejects(nan.classify(faces, { tta: true }), error);
        await assert.rejects(nan.logits!(faces), error);
        await nan.dispose();
      }
    });

    test('mien eval says so in one line and exits 1 instead of printing NaN scores', async () => {
      const csv = path('good.csv');
      await writeFer2013Csv(csv, syntheticFaces(7), () => 'PrivateTest');
      const r = await runCli(['eval', '--model', path('nan.onnx'), '--data', csv]);
      assert.equal(r.code, 1, r.stderr);
      assert.doesNotMatch(r.stdout, /NaN/);
      assert.match(stderrLines(r).at(-1)!, /^mien: .*nan\.onnx produced NaN\/infinite scores: the model is damaged/);
    });
  });

  describe('symbolic links', () => {
    test('class folders follow links to images and folders; a broken link or a loop is reported, not followed forever', async () => {
      const root = path('linked');
      await writeFacePng(path('elsewhere', 'real.png'), patternFace(1));
      await writeFacePng(path('elsewhere', 'more', 'other.png'), patternFace(2));
      await writeFacePng(join(root, 'happy', 'own.png'), patternFace(3));
      await symlink(path('elsewhere', 'real.png'), join(root, 'happy', 'linked.png'));
      await symlink(path('elsewhere', 'more'), join(root, 'happy', 'more'));
      await symlink(path('elsewhere', 'gone.png'), join(root, 'happy', 'broken.png'));
      await symlink(join(root, 'happy'), join(root, 'happy', 'loop'));
      const loaded = await loadFaces(root, { cache: false });
      assert.deepEqual(loaded.splits['all']!.ids, [
        join(root, 'happy', 'linked.png'),
        join(root, 'happy', 'more', 'other.png'),
        join(root, 'happy', 'own.png'),
      ]);
      assert.deepEqual(loaded.problems, [
        { where: join(root, 'happy', 'broken.png'), message: 'broken symbolic link, skipped' },
        {
          where: join(root, 'happy', 'loop'),
          message: `same folder as ${join(root, 'happy')} (a symbolic link loop, or a second link to it), skipped`,
        },
      ]);
    });

    test('mien predict follows the same links in a folder, and reports the broken one', async () => {
      const dir = path('predict-linked');
      await writeFacePng(join(dir, 'own.png'), patternFace(3));
      await symlink(path('elsewhere', 'real.png'), join(dir, 'linked.png'));
      await symlink(path('elsewhere', 'gone.png'), join(dir, 'broken.png'));
      const r = await runCli(['predict', dir, '--json', '--detector', 'none', '--model', model]);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { file: string; error?: string });
      assert.deepEqual(
        lines.map((l) => [l.file, l.error]),
        [
          [join(dir, 'broken.png'), `${join(dir, 'broken.png')}: broken symbolic link, skipped`],
          [join(dir, 'linked.png'), undefined],
          [join(dir, 'own.png'), undefined],
        ],
      );
    });
  });

  describe('files and folders that cannot be read', () => {
    test('mien predict reports an unreadable folder and file as "permission denied" and goes on', async (t) => {
      const dir = path('predict-locked');
      await writeFacePng(join(dir, 'a-ok.png'), patternFace(1));
      await writeFacePng(join(dir, 'locked', 'inside.png'), patternFace(2));
      await writeFacePng(join(dir, 'z-locked.png'), patternFace(3));
      await chmod(join(dir, 'locked'), 0o000);
      await chmod(join(dir, 'z-locked.png'), 0o000);
      // A folder named like an image is not an image, whoever runs the test.
      await mkdir(join(dir, 'folder.png', 'x'), { recursive: true });
      const r = await runCliUnprivileged(['predict', dir, join(dir, 'folder.png'), '--detector', 'none', '--model', model]);
      await chmod(join(dir, 'locked'), 0o755); // so the temp folder can be removed
      const unavailable = unprivilegedUnavailable(r);
      if (unavailable) return t.skip(unavailable);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /a-ok\.png {2}face 1\/1/, 'the readable image is still predicted');
      assert.match(r.stderr, new RegExp(`^mien: ${join(dir, 'locked')}: cannot read \\(permission denied\\), skipped$`, 'm'));
      assert.match(r.stderr, new RegExp(`^mien: ${join(dir, 'z-locked.png')}: permission denied$`, 'm'));
      assert.doesNotMatch(r.stderr, /z-locked\.png: not an image/);
    });

    test('an image folder reports an unreadable image as "permission denied", not as "not an image"', async (t) => {
      const root = path('eval-locked');
      await writeFacePng(join(root, 'happy', 'ok.png'), patternFace(1));
      await writeFacePng(join(root, 'sad', 'locked.png'), patternFace(2));
      await chmod(join(root, 'sad', 'locked.png'), 0o000);
      const r = await runCliUnprivileged(['eval', '--model', model, '--data', root]);
      const unavailable = unprivilegedUnavailable(r);
      if (unavailable) return t.skip(unavailable);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(`skipped 1 bad file \\(first: ${join(root, 'sad', 'locked.png')}: cannot read \\(permission denied\\)\\)`),
      );
    });
  });

  describe('empty class folders', () => {
    test('each is one warning line, also on a cache hit and in a strict load, and never an error', async () => {
      const root = path('with-empty');
      await writeFacePng(join(root, 'happy', 'h.png'), patternFace(1));
      await writeFacePng(join(root, 'happiness', 'h2.png'), patternFace(2));
      await mkdir(join(root, 'happy-too'), { recursive: true }); // not a class name: reported as such, not as empty
      await mkdir(join(root, 'disgust'), { recursive: true });
      await mkdir(join(root, 'Sad'), { recursive: true });
      await writeFile(join(root, 'Sad', '.gitkeep'), '');
      await mkdir(join(root, 'joy'), { recursive: true }); // empty, but happy faces come from the other happy folders
      const expected = [
        { where: join(root, 'Sad'), message: 'empty class folder, so the data has no sad faces', warning: true },
        { where: join(root, 'disgust'), message: 'empty class folder, so the data has no disgust faces', warning: true },
        { where: join(root, 'joy'), message: 'empty class folder', warning: true },
      ];
      const loaded = await loadFaces(root);
      assert.equal(loaded.splits['all']!.labels.length, 2);
      assert.deepEqual(
        loaded.problems.filter((p) => p.warning),
        expected,
      );
      const summary = summarizeProblems(loaded.problems)!.split('\n');
      assert.deepEqual(
        summary.slice(0, -1),
        expected.map((w) => `warning: ${w.where}: ${w.message}`),
      );
      assert.match(
        summary.at(-1)!,
        /^skipped 1 bad file \(first: .*happy-too: unknown class folder/,
        'warnings are not counted as skipped',
      );
      const cached = await loadFaces(root);
      assert.ok(cached.fromCache);
      assert.deepEqual(cached.problems, loaded.problems);
      await rm(join(root, 'happy-too'), { recursive: true });
      const strict = await loadFaces(root, { strict: true, cache: false });
      assert.deepEqual(strict.problems, expected);

      const r = await runCli(['eval', '--model', model, '--data', root]);
      assert.equal(r.code, 0, r.stderr);
      for (const w of expected) assert.match(r.stderr, new RegExp(`^warning: ${w.where}: ${w.message}$`, 'm'));
    });
  });

  describe('mien eval --strict', () => {
    test('stops at the first bad image with the message a lenient run lists', async () => {
      const root = path('one-bad');
      await writeFacePng(join(root, 'happy', 'ok.png'), patternFace(1));
      await writeFile(join(root, 'happy', 'bad.png'), 'not a png');
      const lenient = await runCli(['eval', '--model', model, '--data', root]);
      assert.equal(lenient.code, 0, lenient.stderr);
      assert.match(lenient.stderr, /skipped 1 bad file \(first: .*bad\.png: not an image/);
      const strict = await runCli(['eval', '--model', model, '--data', root, '--strict']);
      assert.equal(strict.code, 1, strict.stderr);
      assert.equal(strict.stdout, '');
      assert.deepEqual(stderrLines(strict), [`mien: ${join(root, 'happy', 'bad.png')}: not an image (or a format sharp cannot read)`]);
    });

    test('stops at the first bad CSV row', async () => {
      const csv = path('one-bad-row.csv');
      const goodRow = `3,${Array.from({ length: FACE_PIXELS }, () => '0').join(' ')},PrivateTest`;
      await writeFile(csv, ['emotion,pixels,Usage', goodRow, '3,1 2 3,PrivateTest', goodRow].join('\n') + '\n');
      const lenient = await runCli(['eval', '--model', model, '--data', csv]);
      assert.equal(lenient.code, 0, lenient.stderr);
      assert.match(lenient.stderr, new RegExp(`skipped 1 bad row \\(first: ${csv}:3: `));
      const strict = await runCli(['eval', '--model', model, '--data', csv, '--strict']);
      assert.equal(strict.code, 1, strict.stderr);
      assert.match(stderrLines(strict).join('\n'), new RegExp(`^mien: ${csv}:3: `));
    });
  });
});
