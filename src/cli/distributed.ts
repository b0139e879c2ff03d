/**
 * `mien train` across processes: where a rank finds its group (flags, or the variables torchrun, Slurm scripts and
 * Kubernetes jobs set), and `--procs N`, which starts N ranks on this machine and watches them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { UsageError } from './errors.js';

/** One rank's place in a data-parallel run. */
export interface RankPlace {
  rank: number;
  worldSize: number;
  /** This host's rank among the ranks on it: its GPU on a multi-GPU host. */
  localRank: number;
  host: string;
  port: number;
}

export interface DistributedFlags {
  worldSize?: number;
  rank?: number;
  master?: string;
  procs?: number;
  groupTimeout?: number;
}

/** torch.distributed's default rendezvous port. */
const DEFAULT_PORT = 29500;

function envInt(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new UsageError(`${name}=${text} is not a non-negative integer`);
  return value;
}

/** "host:port", "host" (port 29500) or "[v6]:port". */
export function parseMaster(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(text.trim());
  const port = match?.[3] === undefined ? DEFAULT_PORT : Number(match[3]);
  if (!match || !(port >= 1 && port <= 65535)) throw new UsageError(`--master takes host:port, e.g. 10.0.0.1:29500, not "${text}"`);
  return { host: match[1] ?? match[2]!, port };
}

/**
 * This process's place in a group, from the flags, else from WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR and
 * MASTER_PORT; undefined when it trains alone (no world size, or 1).
 */
export function rankPlace(flags: DistributedFlags, env: NodeJS.ProcessEnv = process.env): RankPlace | undefined {
  const worldSize = flags.worldSize ?? envInt(env, 'WORLD_SIZE');
  if (worldSize === undefined || worldSize === 1) {
    if (flags.rank !== undefined && flags.rank > 0) throw new UsageError('--rank needs --world-size (or WORLD_SIZE)');
    return undefined;
  }
  if (worldSize < 1) throw new UsageError('--world-size must be at least 1');
  const rank = flags.rank ?? envInt(env, 'RANK');
  if (rank === undefined) throw new UsageError(`a ${worldSize}-rank run needs --rank (or RANK) on every process`);
  if (rank >= worldSize) throw new UsageError(`--rank ${rank} is outside 0–${worldSize - 1}`);
  const master = flags.master
    ? parseMaster(flags.master)
    : env['MASTER_ADDR']
      ? { host: env['MASTER_ADDR'], port: envInt(env, 'MASTER_PORT') ?? DEFAULT_PORT }
      : undefined;
  if (!master) throw new UsageError(`a ${worldSize}-rank run needs --master host:port (or MASTER_ADDR and MASTER_PORT): rank 0's address`);
  return { rank, worldSize, localRank: envInt(env, 'LOCAL_RANK') ?? rank, ...master };
}

/** A port nobody listens on now, for a group on this machine. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** The command line without `--procs N` / `--procs=N`. */
function withoutProcs(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--procs') i++;
    else if (!args[i]!.startsWith('--procs=')) out.push(args[i]!);
  }
  return out;
}

/**
 * Runs this same `mien train` command as `procs` ranks on this machine (127.0.0.1, a free port), each with its share
 * of the cores unless --threads is given (CUDA runs take one GPU each, by local rank). Rank 0 prints as a lone run
 * does; the others' warnings and errors come prefixed with their rank. When one rank fails the others are stopped;
 * the exit code is the first failure's.
 */
export async function launchLocalGroup(procs: number, argv: readonly string[] = process.argv): Promise<number> {
  if (process.env['RANK'] !== undefined || process.env['WORLD_SIZE'] !== undefined)
    throw new UsageError('--procs starts the ranks itself: do not combine it with RANK/WORLD_SIZE (or --world-size)');
  const args = withoutProcs(argv.slice(2));
  if (args.some((a) => a === '--world-size' || a.startsWith('--world-size=') || a === '--rank' || a.startsWith('--rank=')))
    throw new UsageError('--procs starts the ranks itself: leave out --world-size and --rank');
  const threads = args.some((a) => a === '--threads' || a.startsWith('--threads='))
    ? []
    : ['--threads', String(Math.max(1, Math.floor(availableParallelism() / procs)))];
  const port = await freePort();
  const children: ChildProcess[] = [];
  let firstFailure: { rank: number; code: number } | undefined;
  const stopOthers = (signal: NodeJS.Signals) => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  const forward = (signal: NodeJS.Signals) => stopOthers(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  try {
    const exits = Array.from({ length: procs }, (_, rank) => {
      const child = spawn(process.execPath, [...process.execArgv, argv[1]!, ...args, ...threads], {
        env: {
          ...process.env,
          WORLD_SIZE: String(procs),
          RANK: String(rank),
          LOCAL_RANK: String(rank),
          MASTER_ADDR: '127.0.0.1',
          MASTER_PORT: String(port),
        },
        stdio: rank === 0 ? 'inherit' : ['ignore', 'ignore', 'pipe'],
      });
      children.push(child);
      child.stderr?.setEncoding('utf8');
      let pending = '';
      child.stderr?.on('data', (chunk: string) => {
        const lines = (pending + chunk).split('\n');
        pending = lines.pop()!;
        for (const line of lines) process.stderr.write(`[rank ${rank}] ${line}\n`);
      });
      return new Promise<void>((resolve) => {
        child.on('exit', (code, signal) => {
          if (pending) process.stderr.write(`[rank ${rank}] ${pending}\n`);
          const status = code ?? (signal ? 128 + 15 : 1);
          if (status !== 0 && !firstFailure) {
            firstFailure = { rank, code: status };
            process.stderr.write(
              `mien: rank ${rank} of ${procs} ${code === null ? `was killed (${signal})` : `exited with code ${code}`}; stopping the others\n`,
            );
            stopOthers('SIGTERM');
          }
          resolve();
        });
      });
    });
    await Promise.all(exits);
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
  }
  return firstFailure?.code ?? 0;
}
