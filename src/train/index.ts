export type { Batch, Callback, EpochEnd, Hook, TrainContext } from './callback.js';
export type { EmaState } from './callbacks/ema.js';
export type { PatienceState } from './callbacks/schedule.js';
export {
  Distillation,
  TeacherError,
  EarlyStopping,
  HistoryWriter,
  LrSchedule,
  Mixing,
  ModelCheckpoint,
  ReduceLrOnPlateau,
  WeightAverage,
  type MixingMode,
} from './callbacks/index.js';
export {
  CheckpointError,
  decodeCheckpoint,
  encodeCheckpoint,
  loadCheckpoint,
  saveCheckpoint,
  type Checkpoint,
  type TrainerState,
} from './checkpoint.js';
export { classWeightsFor, DEFAULT_TRAIN_CONFIG, type EpochRecord, type TrainConfig } from './config.js';
export {
  connectGroup,
  createNetwork,
  DEFAULT_GROUP_TIMEOUT_MS,
  engineInfo,
  EngineUnavailableError,
  GroupError,
  setThreads,
  type CreateNetworkOptions,
  type Device,
  type DistributedBackend,
  type EngineInfo,
  type GroupOptions,
  type ProcessGroup,
  type Network,
  type OptimizerConfig,
  type Precision,
  type StepResult,
  type TrainStepOptions,
} from './engine.js';
export { ConsoleProgress } from './progress.js';
export { bestCheckpointOf, loadResumePoint, removeLeftoverTempFiles, type ResumePoint } from './run-folder.js';
export { acquireRunLock, LOCK_FILE, RunLockedError, type AcquireRunLockOptions, type RunLock } from './run-lock.js';
export { evaluateNetwork, RUN_FILES, train, TrainingDivergedError, type TrainOptions, type TrainResult } from './trainer.js';
export { loadTrainingData, type TrainingData } from './training-data.js';
