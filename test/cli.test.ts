import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { engineInfo } from '../src/train/engine.js';
import { runCli } from './helpers/cli.js';
import { syntheticFaces, tinySpec, writeFer2013Csv } from './helpers/synthetic.js';

const noStack = (stderr: string) => assert.doesNotMatch(stderr, /\n\s+at /, `no stack trace: ${stderr}`);

describe('mien CLI', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'mien-cli-'))));
  after(async () => rm(dir, { recursive: true, force: true }));
  const env = () => ({ MIEN_CACHE_DIR: join(dir, 'cache') });

  test('summary deep prints the Keras table with the original totals, and draws the graph', async () => {
    const graph = join(dir, 'deep.svg');
    const r = await runCli(['summary', 'deep', '--graph', graph]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Total params: 4,478,727/);
    assert.match(r.stdout, /Trainable params: 4,474,759/);
    assert.match(r.stdout, /Multiply-adds per image: \d/);
    assert.ok((await stat(graph)).size > 1000);
  });

  test('models lists every architecture', async () => {
    const r = await runCli(['models']);
    assert.equal(r.code, 0, r.stderr);
    for (const name of ['seed-tf', 'shallow', 'deep', 'vgg-b', 'mienet-s', 'mienet-xs', 'mienet-sm', 'mienet-m'])
      assert.match(r.stdout, new RegExp(`^${name} `, 'm'));
  });

  test('user mistakes get one clear line and a non-zero exit, never a stack trace', async () => {
    const cases: [string[], RegExp][] = [
      [['summary', 'no-such-net'], /unknown architecture "no-such-net"; known: seed-tf/],
      [['summary', 'deep', '--graph', join(dir, 'deep.jpg')], /\.svg or \.png/],
      [['train', '--arch', 'deep'], /train needs --data/],
      [['train', '--data', join(dir, 'missing.csv'), '--arch', 'deep'], /missing\.csv/],
      [['train', '--data', join(dir, 'x.csv'), '--arch', 'deep', '--lr', 'fast'], /"fast" is not a number/],
      [['train', '--data', join(dir, 'x.csv'), '--arch', 'deep', '--class-weights', '1,2'], /"balanced", "sqrt" or 7 comma-separated/],
      [['train', '--data', join(dir, 'x.csv'), '--arch', 'deep', '--class-weights', '1,1,1,1,1,1,-1'], /"-1" must be above 0/],
      [['train', '--resume', join(dir, 'nothing-here')], /no last\.ckpt to resume from/],
      [['export', dir, '--out', join(dir, 'm.onnx')], /neither a run folder \(no best\.ckpt\) nor a checkpoint file/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args, env());
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
      noStack(r.stderr);
    }
  });

  test('--version prints the version in package.json and exits 0', async () => {
    const { version } = JSON.parse(await readFile('package.json', 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await runCli([flag]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${version}\n`);
    }
  });

  test('usage mistakes exit 2, not 1: unknown names, bad values, flags that do not fit, output folders that are files', async () => {
    const csv = join(dir, 'usage.csv');
    await writeFer2013Csv(csv, syntheticFaces(14, 1), (i) => (i % 2 ? 'PublicTest' : 'Training'));
    const aFile = join(dir, 'a-file');
    await writeFile(aFile, 'x');
    const cases: [string[], RegExp][] = [
      [['summary', 'no-such-net'], /unknown architecture "no-such-net"/],
      [['summary', 'deep', '--graph', join(dir, 'deep.jpg')], /\.svg or \.png/],
      [['train', '--data', csv, '--arch', 'no-such-net'], /unknown architecture/],
      [['train', '--data', csv, '--arch', 'deep', '--augment', 'wobble=3'], /bad augmentation/],
      [['train', '--data', csv, '--arch', 'deep', '--val-fraction', '2'], /--val-fraction must be between 0 and 1/],
      [['train', '--data', csv, '--arch', 'deep', '--teacher', join(dir, 'nowhere')], /--teacher .*nowhere: no .*nowhere.*\.onnx file/],
      [['train', '--data', csv, '--arch', 'deep', '--teacher-view', 'clean'], /--teacher-view need --teacher/],
      [['train', '--data', csv, '--arch', 'deep', '--teacher', 'accurate', '--teacher-view', 'sharp'], /argument 'sharp' is invalid/],
      [['eval', '--data', csv, '--split', 'Nope'], /unknown split 'Nope'/],
      [['eval', '--data', csv, '--split', 'test'], /has no test split/],
      [['data', 'stats', csv, '--out', aFile], /--out .*a-file: is a file, not a folder/],
      [['video', '-', '--json', join(dir, 'f.jsonl')], /not stdin/],
      [['video', csv, '--out', '-'], /cannot be written to stdout/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args, env());
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      noStack(r.stderr);
    }
  });

  test('npm reads the project config without warnings; the install command still skips the CUDA download', async () => {
    // .npmrc held `onnxruntime-node-install=skip`, which npm 11 warns about on every call (npx mien included)
    const { stderr } = await promisify(execFile)('npm', ['config', 'get', 'registry'], { cwd: process.cwd() });
    assert.doesNotMatch(stderr, /Unknown project config/);
    // onnxruntime-node's postinstall reads ONNXRUNTIME_NODE_INSTALL before any npm config
    const installScript = await readFile('node_modules/onnxruntime-node/script/install-utils.js', 'utf8');
    assert.match(installScript, /process\.env\.ONNXRUNTIME_NODE_INSTALL \|\|/);
    assert.match(await readFile('.ci/run', 'utf8'), /^export ONNXRUNTIME_NODE_INSTALL=skip$/m);
    assert.match(await readFile('README.md', 'utf8'), /ONNXRUNTIME_NODE_INSTALL=skip npm ci/);
  });

  describe('with the training engine', { skip: engineInfo().available ? false : `native addon not built: ${engineInfo().reason}` }, () => {
    let csv: string;
    let arch: string;
    before(async () => {
      csv = join(dir, 'bad.csv');
      await writeFer2013Csv(csv, syntheticFaces(140, 3), (i) => (i % 5 === 0 ? 'PublicTest' : 'Training'));
      // append one bad row of each kind after 140 good ones (data rows start on line 2)
      const bad = [
        `3,${'1 '.repeat(2302)}1,Training`,
        `9,${'1 '.repeat(2303)}1,Training`,
        `2,${'1 '.repeat(2303)}x,Training`,
        `2,${'1 '.repeat(2303)}1,Nope`,
      ];
      await writeFile(csv, bad.join('\n') + '\n', { flag: 'a' });
      arch = join(dir, 'tiny.json');
      await writeFile(arch, JSON.stringify(tinySpec()));
    });

    test('bad rows are skipped and counted in one summary line; training and export still work', async () => {
      const run = join(dir, 'run');
      const r = await runCli(
        ['train', '--data', csv, '--arch', arch, '--epochs', '1', '--batch', '16', '--threads', '1', '--out', run],
        env(),
      );
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /skipped 4 bad rows.*bad\.csv:142/);
      assert.match(r.stdout, /epoch 1\/1 .*val_acc/);
      const exported = join(dir, 'exported.onnx');
      const e = await runCli(['export', run, '--out', exported], env());
      assert.equal(e.code, 0, e.stderr);
      assert.ok((await stat(exported)).size > 1000);
      // The exported model teaches a new run (an .onnx teacher outlives the run folder it came from).
      const student = await runCli(
        [
          'train',
          '--data',
          csv,
          '--arch',
          arch,
          '--epochs',
          '1',
          '--batch',
          '16',
          '--threads',
          '1',
          '--teacher',
          exported,
          '--teacher-view',
          'clean',
          '--out',
          join(dir, 'student'),
        ],
        env(),
      );
      assert.equal(student.code, 0, student.stderr);
      assert.match(student.stdout + student.stderr, /distilling from .*exported\.onnx \(T 4, weight 0\.7, teachers see the clean faces\)/);
      assert.match(student.stdout, /epoch 1\/1 .*val_acc/);
    });

    test('--strict fails on the first bad row, naming its line', async () => {
      const r = await runCli(
        ['train', '--data', csv, '--arch', arch, '--epochs', '1', '--strict', '--no-cache', '--out', join(dir, 'strict')],
        env(),
      );
      assert.equal(r.code, 1);
      assert.match(r.stderr, /bad\.csv:142: .*2303 pixels/);
      noStack(r.stderr);
    });

    test('--device cuda on a CPU-only build says so clearly', { skip: engineInfo().cuda ? 'this build has CUDA' : false }, async () => {
      const r = await runCli(
        ['train', '--data', csv, '--arch', arch, '--epochs', '1', '--device', 'cuda', '--out', join(dir, 'cuda')],
        env(),
      );
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /no CUDA/);
      noStack(r.stderr);
    });
  });
});
