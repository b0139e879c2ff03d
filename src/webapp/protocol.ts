/** What the webcam page and `mien web` agree on: where the page finds its models. Imported by both sides. */

/** The folder of model files, relative to the page. */
export const MODELS_PATH = 'models/';
/** Inside MODELS_PATH: which model files to fetch, checked on every visit (small, answered 304 when unchanged). */
export const MANIFEST_FILE = 'manifest.json';

/**
 * The manifest. Each model URL holds the file's content hash, so browsers keep the files for a year and fetch them
 * again only when `mien web` serves different ones.
 */
export interface ModelManifest {
  /** The expression model the page runs (`fast`, or the file's name without `.onnx`), or why there is none. */
  expression: { name: string; url: string } | { missing: string };
  /** The other shipped models the page may run instead, picked with `?model=<name>` (the page's model menu). */
  others: { name: string; url: string }[];
  /** The face detector's two model files, by role. */
  detector: { fullRange: string; shortRange: string };
}
