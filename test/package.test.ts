/**
 * mien as another project gets it: `npm pack`, the tarball installed into a fresh project, then the package's own
 * name imported, its types checked strictly, and `npx mien` run there. Scripts are not run on install: the training
 * addon's build is `npm ci`'s business (tested by every training test), and nothing here needs it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PHOTO = join(ROOT, 'test/fixtures/dnn-face.jpg');
const { name } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { name: string };

describe(
  'the packed package in a fresh project',
  { skip: existsSync(join(ROOT, 'dist/index.js')) ? false : 'dist/ not built (npm run build)' },
  () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'mien-consumer-'));
      const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir, '--json'], {
        cwd: ROOT,
        maxBuffer: 1 << 26,
      });
      const [{ filename }] = JSON.parse(stdout) as { filename: string }[];
      await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
      // From npm's cache where `npm ci` put everything; typescript and @types/node for the strict type check.
      await run(
        'npm',
        ['install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', join(dir, filename!), 'typescript', '@types/node'],
        {
          cwd: dir,
          maxBuffer: 1 << 26,
        },
      );
    });
    after(async () => rm(dir, { recursive: true, force: true }));

    test(`import { createRecognizer } from '${name}' finds the face, and a strict tsc accepts the types`, async () => {
      const script = `import { createRecognizer, EXPRESSIONS } from '${name}';
const recognizer = await createRecognizer();
const faces = await recognizer.recognize(${JSON.stringify(PHOTO)});
const expression: (typeof EXPRESSIONS)[number] = faces[0]!.expression;
console.log(JSON.stringify({ n: faces.length, expression }));
await recognizer.dispose();
`;
      await writeFile(join(dir, 'main.ts'), script);
      await writeFile(join(dir, 'main.mjs'), script.replace(': (typeof EXPRESSIONS)[number]', '').replace('faces[0]!', 'faces[0]'));
      const { stdout } = await run(process.execPath, ['main.mjs'], { cwd: dir });
      const result = JSON.parse(stdout) as { n: number; expression: string };
      assert.equal(result.n, 1);
      assert.match(result.expression, /^(angry|disgust|fear|happy|sad|surprise|neutral)$/);
      const tsc = join(dir, 'node_modules/typescript/bin/tsc');
      const flags = [
        '--noEmit',
        '--strict',
        '--skipLibCheck',
        'false',
        '--module',
        'nodenext',
        '--target',
        'es2022',
        '--types',
        'node',
        'main.ts',
      ];
      await run(process.execPath, [tsc, ...flags], { cwd: dir }).catch((err: { stdout: string }) => assert.fail(`tsc: ${err.stdout}`));
    });

    test('npx mien --version and predict work in the project', async () => {
      const version = await run('npx', ['--no-install', 'mien', '--version'], { cwd: dir });
      assert.match(version.stdout.trim(), /^\d+\.\d+\.\d+/);
      assert.doesNotMatch(version.stderr, /npm warn/);
      const { stdout } = await run('npx', ['--no-install', 'mien', 'predict', '--json', PHOTO], { cwd: dir });
      const line = JSON.parse(stdout.trim()) as { faces: unknown[] };
      assert.equal(line.faces.length, 1);
    });
  },
);
