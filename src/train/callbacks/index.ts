import type { Callback } from '../callback.js';
import type { TrainConfig } from '../config.js';
import { Distillation } from './distillation.js';
import { EarlyStopping } from './early-stopping.js';
import { WeightAverage } from './ema.js';
import { Mixing } from './mixing.js';
import { HistoryWriter, ModelCheckpoint } from './run-files.js';
import { LrSchedule, ReduceLrOnPlateau } from './schedule.js';

export { Distillation, TEACHER_VIEWS, TeacherError, type TeacherView } from './distillation.js';
export { EarlyStopping } from './early-stopping.js';
export { WeightAverage } from './ema.js';
export { Mixing, type MixingMode } from './mixing.js';
export { HistoryWriter, ModelCheckpoint, RUN_FILES } from './run-files.js';
export { LrSchedule, ReduceLrOnPlateau } from './schedule.js';

/** The callbacks a run's config asks for, in the order they must run: targets and rates first, then stopping. */
export async function policyCallbacks(config: TrainConfig): Promise<Callback[]> {
  const callbacks: Callback[] = [];
  if (config.schedule === 'cosine' || config.warmupEpochs > 0) {
    callbacks.push(new LrSchedule(config.schedule, config.lr, config.plateau.minLr, config.warmupEpochs));
  }
  if (config.schedule === 'plateau')
    callbacks.push(new ReduceLrOnPlateau(config.plateau.factor, config.plateau.patience, config.plateau.minLr));
  if (config.mixing) callbacks.push(new Mixing(config.mixing.mode, config.mixing.alpha, config.seed));
  if (config.distillation) {
    callbacks.push(await Distillation.load(config.distillation.teachers, config.distillation, config));
  }
  if (config.ema > 0) callbacks.push(new WeightAverage(config.ema));
  if (config.earlyStopPatience > 0) callbacks.push(new EarlyStopping(config.earlyStopPatience));
  return callbacks;
}

/**
 * The writers of the run folder; they run after every other callback so a checkpoint holds their final state. The
 * checkpoint goes first: history.json may then lag last.ckpt by an epoch after a crash, never run ahead of it.
 */
export const runFileCallbacks = (): Callback[] => [new ModelCheckpoint(), new HistoryWriter()];
