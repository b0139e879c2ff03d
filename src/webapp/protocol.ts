/** What the webcam page and `mien web` agree on: where the page finds its models. Imported by both sides. */

/** The folder of model files, relative to the page. */
export const MODELS_PATH = 'models/';
/** The expression model the page runs, inside MODELS_PATH: whichever model `mien web` was started with. */
export const EXPRESSION_MODEL_FILE = 'expression.onnx';
/** The response header that names that model (`fast`, or the file's name without `.onnx`). */
export const MODEL_NAME_HEADER = 'X-Mien-Model';
