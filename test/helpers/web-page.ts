/**
 * What the webcam page's test and benchmark share: the page built and served by `mien web`, and Debian's Chromium
 * with a fake camera that plays a clip of the webcam fixture.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { build } from 'vite';
import { startCli } from './cli.js';

export const CHROMIUM = '/usr/bin/chromium';
/**
 * The first 2 s of ../shared/data/video/face-webcam-4s.mp4 at 640 px (ffmpeg -t 2 -vf scale=640:-2 -crf 30), kept
 * as a fixture so the browser test runs wherever the repository is cloned.
 */
export const WEBCAM_CLIP = fileURLToPath(new URL('../fixtures/webcam-2s.mp4', import.meta.url));

/** Why the browser tests cannot run here, or false when they can. */
export const chromiumMissing = (): string | false =>
  existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium; .ci/run installs it)`;

/** Builds web/ into dist/web, so the page under test is the source as it is now. */
export async function buildWebApp(): Promise<void> {
  await build({ configFile: 'web/vite.config.ts', logLevel: 'warn' });
}

/**
 * The first `seconds` of the webcam clip as a .y4m file, the format Chromium's fake camera plays (in a loop), at
 * 640 px wide and `fps` frames per second.
 */
export function fakeCameraClip(dir: string, seconds: number, fps: number): string {
  const out = join(dir, `camera-${fps}fps.y4m`);
  execFileSync('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-t',
    String(seconds),
    '-i',
    WEBCAM_CLIP,
    '-vf',
    'scale=640:-2',
    '-r',
    String(fps),
    '-pix_fmt',
    'yuv420p',
    out,
  ]);
  return out;
}

export interface RunningWebServer {
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `mien web --port 0 …args` and resolves with the URL it prints. */
export function startWebServer(args: string[]): Promise<RunningWebServer> {
  const child = startCli(['web', '--port', '0', ...args]);
  let stdout = '';
  let stderr = '';
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (b: Buffer) => (stderr += b));
    child.stdout!.on('data', (b: Buffer) => {
      stdout += b;
      const url = /(http:\/\/\S+\/)/.exec(stdout)?.[1];
      if (url) {
        resolve({
          url,
          process: child,
          stop: async () => {
            child.kill('SIGTERM');
            await exited;
          },
        });
      }
    });
    child.on('close', (code) => reject(new Error(`mien web exited with ${code} before printing its URL: ${stderr}`)));
  });
}

/** Headless Chromium whose camera plays `y4m`, the permission prompt answered yes. */
export function launchWithFakeCamera(y4m: string): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${y4m}`],
  });
}
