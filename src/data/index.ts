export * from './dataset.js';
export { augmentFace, DEFAULT_AUGMENT, faceToFloat, formatAugment, NO_AUGMENT, parseAugment, type AugmentOptions } from './augment.js';
export { decodeFaceImage } from './image.js';
export { loadFaces, type LoadedFaces, type LoadOptions, type SourceFormat } from './load.js';
export { parseClassName } from './names.js';
export { DataError, summarizeProblems, type DataProblem } from './problems.js';
export { Rng } from './random.js';
export { resizeArea } from './resize.js';
export { splitStratified } from './split.js';
