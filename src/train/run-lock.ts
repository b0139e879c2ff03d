/**
 * One training run per run folder: `D/.lock`, created with O_EXCL (the `wx` flag) so that of two runs starting at once
 * exactly one gets it, holds the owner's pid, host and start time. A lock whose process is gone (killed, crashed) is
 * taken over; one from another host cannot be checked and is left to the user.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { MienError } from '../core/errors.js';

export const LOCK_FILE = '.lock';

interface LockOwner {
  pid: number;
  hostname: string;
  startedAt: string;
}

/** Another training run holds the run folder. */
export class RunLockedError extends MienError {
  override readonly status = 409;
  override readonly code = 'run_locked';
}

export interface RunLock {
  /** Removes the lock if it is still this process's; synchronous, so a signal handler can call it. Idempotent. */
  release(): void;
}

export interface AcquireRunLockOptions {
  /** Told, in one line, when a stale lock (its process gone) is taken over. */
  onStale?: (message: string) => void;
}

function readOwner(file: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockOwner>;
    return typeof owner.pid === 'number' && typeof owner.hostname === 'string' ? (owner as LockOwner) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a process with this pid runs on this host (EPERM: it does, as another user). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

const sameOwner = (a: LockOwner | undefined, b: LockOwner): boolean =>
  a?.pid === b.pid && a.hostname === b.hostname && a.startedAt === b.startedAt;

/** Takes the lock of run folder `dir` (which must exist), or throws RunLockedError naming the process that holds it. */
export function acquireRunLock(dir: string, options: AcquireRunLockOptions = {}): RunLock {
  const file = join(dir, LOCK_FILE);
  const me: LockOwner = { pid: process.pid, hostname: hostname(), startedAt: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, JSON.stringify(me) + '\n', { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = readOwner(file);
    // Its owner has just released it: try again.
    if (!owner && !existsSync(file) && attempt === 0) continue;
    const help = `wait for it to finish, or if no run is using ${dir}, delete ${file}`;
    // An unreadable lock may be one another run is writing this very moment: never take it over.
    if (!owner) throw new RunLockedError(`${dir} is locked by another training run (${file} names no owner yet): ${help}`);
    const stale = owner.hostname === me.hostname && !isProcessAlive(owner.pid);
    // Take over once at most: a lock found again after that belongs to a run that got in first.
    if (!stale || attempt > 0) {
      const where = owner.hostname === me.hostname ? '' : ` on ${owner.hostname}`;
      throw new RunLockedError(`${dir} is in use by another training run (pid ${owner.pid}${where}, since ${owner.startedAt}): ${help}`);
    }
    // Re-read just before removing, so a lock another run took over meanwhile is not deleted.
    if (sameOwner(readOwner(file), owner)) {
      rmSync(file, { force: true });
      options.onStale?.(`taking over the stale lock of ${dir}: pid ${owner.pid} (since ${owner.startedAt}) is no longer running`);
    }
  }
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      if (sameOwner(readOwner(file), me)) rmSync(file, { force: true });
    },
  };
}
