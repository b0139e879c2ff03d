/** `mien serve` in a process of its own, as users run it, for the HTTP benchmarks (bench:serve, bench:soak). */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';

export interface ServeProcess {
  url: string;
  /** What the server wrote on stderr so far. */
  stderr: () => string;
  /** The server's resident set size in MiB, from /proc. */
  rssMiB: () => Promise<number>;
  /** Sends SIGTERM and resolves to the exit code (or the signal that ended it). */
  stop: () => Promise<number | NodeJS.Signals | null>;
}

/** Starts `mien serve --port 0 <flags>` from source and resolves once it prints its URL. */
export async function startServe(flags: string[]): Promise<ServeProcess> {
  const server = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', '0', ...flags], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  server.stdout.on('data', (b: Buffer) => (stdout += b));
  server.stderr.on('data', (b: Buffer) => (stderr += b));
  const exited = once(server, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  while (!/ on (http:\S+) /.test(stdout)) {
    if (server.exitCode !== null) throw new Error(`mien serve did not start: ${stderr.trim()}`);
    await Promise.race([once(server.stdout, 'data'), exited]);
  }
  return {
    url: / on (http:\S+) /.exec(stdout)![1]!,
    stderr: () => stderr,
    rssMiB: async () => Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${server.pid}/status`, 'utf8'))![1]) / 1024,
    stop: async () => {
      server.kill('SIGTERM');
      const [code, signal] = await exited;
      return code ?? signal;
    },
  };
}
