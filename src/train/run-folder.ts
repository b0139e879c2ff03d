/**
 * What a run folder needs before a run starts or resumes in it, with the folder locked (see run-lock.ts): clearing what
 * an interrupted run left behind, and choosing the checkpoint to resume from.
 */
import { existsSync, statSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { atomicWriteTempOwner } from '../core/atomic-write.js';
import { CheckpointError, loadCheckpoint, type Checkpoint } from './checkpoint.js';
import { RUN_FILES } from './callbacks/run-files.js';
import { isProcessAlive } from './run-lock.js';

/**
 * Deletes the temp files of atomic writes that a killed process left in `dir` (only writeFileAtomic's own pattern,
 * only this folder) and returns their names. A live process's temp file is kept: another command may be writing it.
 */
export async function removeLeftoverTempFiles(dir: string): Promise<string[]> {
  const leftovers = (await readdir(dir)).filter((name) => {
    const pid = atomicWriteTempOwner(name);
    return pid !== undefined && !isProcessAlive(pid);
  });
  for (const name of leftovers) await rm(join(dir, name), { force: true });
  return leftovers;
}

/** The checkpoint a trained run stands for: a run folder's best.ckpt (its validated weights); a file path as given. */
export function bestCheckpointOf(source: string): string {
  return existsSync(source) && statSync(source).isDirectory() ? join(source, RUN_FILES.best) : source;
}

export interface ResumePoint {
  checkpoint: Checkpoint;
  /** The file it was read from. */
  file: string;
  /** Set when it is not last.ckpt: why, and which epoch the run goes back to. */
  warning?: string;
}

/**
 * The newest intact checkpoint of the run in `dir`: last.ckpt, else best.ckpt (a damaged or missing last.ckpt, e.g.
 * a kill between the two writes of the first epoch). Throws CheckpointError when neither can be read.
 */
export async function loadResumePoint(dir: string): Promise<ResumePoint> {
  const last = join(dir, RUN_FILES.last);
  const best = join(dir, RUN_FILES.best);
  let problem = `${dir} has no ${RUN_FILES.last}`;
  if (existsSync(last)) {
    try {
      return { checkpoint: await loadCheckpoint(last), file: last };
    } catch (err) {
      if (!(err instanceof CheckpointError)) throw err;
      problem = err.message;
    }
  }
  let checkpoint: Checkpoint;
  try {
    checkpoint = await loadCheckpoint(best);
  } catch (err) {
    if (!(err instanceof CheckpointError)) throw err;
    throw new CheckpointError(`cannot resume: ${problem}, and ${existsSync(best) ? err.message : `there is no ${best}`}`, { cause: err });
  }
  const { epoch } = checkpoint.state;
  return {
    checkpoint,
    file: best,
    // best.ckpt holds the validated weights (the average, with --ema), so the run goes on from those.
    warning: `${problem}; resuming from ${best} instead, after epoch ${epoch} (later epochs are trained again)`,
  };
}
