export { EarlyStopping, ReduceLrOnPlateau, type Callback, type TrainingControl } from './callbacks.js';
export { CheckpointError, loadCheckpoint, saveCheckpoint, type Checkpoint, type TrainerState } from './checkpoint.js';
export { DEFAULT_TRAIN_CONFIG, type EpochRecord, type TrainConfig } from './config.js';
export {
  createNetwork,
  engineInfo,
  EngineUnavailableError,
  setThreads,
  type CreateNetworkOptions,
  type Device,
  type EngineInfo,
  type Network,
  type OptimizerConfig,
  type StepResult,
  type TrainStepOptions,
} from './engine.js';
export { ConsoleReporter, silentReporter, type TrainReporter } from './progress.js';
export { evaluateNetwork, exportRun, RUN_FILES, train, type TrainOptions, type TrainResult } from './trainer.js';
export { loadTrainingData, type TrainingData } from './training-data.js';
