/**
 * The recognition options `mien predict`, `video`, `eval --detector` and `serve` share, declared once with the
 * pipeline's own defaults (src/recognize/config.ts), so help texts and behaviour cannot drift apart.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { DETECTOR_NAMES, DETECTORS, type DetectorName } from '../detect/registry.js';
import { SMALLEST_FACE } from '../detect/smallest-face.js';
import { DEFAULT_RECOGNIZER_CONFIG as DEFAULTS, recognizerConfig } from '../recognize/config.js';
import { SHIPPED_MODELS } from '../recognize/expression-model.js';
import type { RecognizerOptions } from '../recognize/recognizer.js';
import { isTtaMode, TTA_MODES, ttaMode, ttaViewCount, type TtaMode, type TtaOption } from '../recognize/tta.js';
import { float, positiveInt } from './parse.js';

export interface RecognizerFlags {
  model?: string;
  detector: DetectorName;
  minFace: number;
  minConfidence?: number;
  maxFaces?: number;
  tta?: TtaOption;
}

/**
 * `--tta [mode]`, for every command that classifies faces: bare, the zooms (the most accurate on face crops); `mirror`,
 * the two views that gain a little where the faces come through the detector, where the zooms do not (README, `mien eval`).
 */
export function ttaOption(): Option {
  return new Option(
    '--tta [mode]',
    'test-time augmentation: zoom (the default) averages ten views of each face (five zooms and their mirror images), classification 10× slower; mirror averages the face and its mirror image, 2× slower',
  ).argParser(ttaModeArgument);
}

function ttaModeArgument(value: string): TtaMode {
  if (isTtaMode(value)) return value;
  throw new InvalidArgumentError(
    `--tta takes ${TTA_MODES.join(' or ')}; to give a file right after a bare --tta, write --tta=zoom or put the file first.`,
  );
}

/** How an evaluation's header says which views were averaged. */
export function ttaNote(option: TtaOption | undefined): string {
  const mode = ttaMode(option);
  return mode ? `, with ${mode} TTA (${ttaViewCount(mode)} views)` : '';
}

export const MODEL_HELP = `expression model: ${SHIPPED_MODELS.join(' or ')} (shipped with mien; default ${DEFAULTS.model}) or an .onnx file`;

const DETECTOR_HELP = `face detector: ${Object.entries(DETECTORS)
  .map(([name, { description }]) => `${name} = ${description}`)
  .join('; ')}; none = each image is one face crop`;

function confidence(value: string): number {
  const x = float(value);
  if (!(x >= 0 && x < 1)) throw new InvalidArgumentError(`"${value}" must be in [0, 1).`);
  return x;
}

/** Adds the options to `command`; `detector` is the default detector where it is not the pipeline's (eval: none). */
export function addRecognizerOptions(command: Command, { detector = DEFAULTS.detector }: { detector?: DetectorName } = {}): Command {
  return command
    .option('--model <name|file.onnx>', MODEL_HELP)
    .addOption(new Option('--detector <name>', DETECTOR_HELP).choices([...DETECTOR_NAMES]).default(detector))
    .option(
      '--min-face <px>',
      `smallest face looked for and kept (box side, pixels; at least ${SMALLEST_FACE.dnn} with dnn, ${SMALLEST_FACE.haar} with haar; in a photo under twice this size, half its shorter side)`,
      positiveInt,
      DEFAULTS.minFaceSize,
    )
    .option('--min-confidence <p>', "drop faces the detector is less sure of (0–1; default: the detector's measured threshold)", confidence)
    .option('--max-faces <n>', 'at most this many faces per image, the largest (default: all)', positiveInt)
    .addOption(ttaOption());
}

/**
 * The flags as createRecognizer options, checked now (a RecognizerOptionError, exit 2) so that a wrong value is
 * reported before any file is looked at or any model loaded.
 */
export function recognizerOptions(flags: RecognizerFlags, extra: Partial<RecognizerOptions> = {}): RecognizerOptions {
  const options: RecognizerOptions = {
    model: flags.model,
    detector: flags.detector,
    minFaceSize: flags.minFace,
    minConfidence: flags.minConfidence,
    maxFaces: flags.maxFaces,
    tta: flags.tta,
    ...extra,
  };
  recognizerConfig({ ...options, model: undefined, detector: flags.detector });
  return options;
}
