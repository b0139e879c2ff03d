import { EXPRESSIONS, NUM_CLASSES } from '../core/labels.js';

/**
 * Folder names people use for each FER2013 class, indexed by label id. Generous (other datasets' spellings, common
 * typos) but never ambiguous: no word here could mean two classes. `calm` is RAVDESS's low-arousal neutral; `contempt`
 * (CK+, AffectNet) is deliberately absent because none of the 7 classes means it.
 */
const CLASS_SYNONYMS: readonly (readonly string[])[] = [
  ['angry', 'anger', 'mad', 'rage'],
  ['disgust', 'disgusted', 'disgusting'],
  ['fear', 'fearful', 'scared', 'afraid', 'frightened'],
  ['happy', 'happiness', 'joy', 'joyful'],
  ['sad', 'sadness', 'unhappy', 'sorrow'],
  ['surprise', 'surprised', 'suprise', 'suprised', 'amazed'],
  ['neutral', 'neutrality', 'calm'],
];

const CLASS_BY_NAME = new Map(CLASS_SYNONYMS.flatMap((names, id) => names.map((n) => [n, id] as const)));

/**
 * The FER2013 label id for a class folder name: a synonym in any case (`Happy`, `happiness`), a FER2013 id (`3`), or a
 * name behind a sorting prefix (`3_happy`, `01-Happy`; the name wins, since other datasets number classes differently).
 */
export function parseClassName(name: string): number | undefined {
  const key = name.trim().toLowerCase();
  if (/^\d+$/.test(key)) {
    const id = Number(key);
    return id < NUM_CLASSES ? id : undefined;
  }
  return CLASS_BY_NAME.get(key) ?? CLASS_BY_NAME.get(key.replace(/^\d+[\s_.-]+/, ''));
}

type SplitName = 'train' | 'val' | 'test';

const SPLIT_BY_NAME = new Map<string, SplitName>([
  ['train', 'train'],
  ['training', 'train'],
  ['val', 'val'],
  ['valid', 'val'],
  ['validation', 'val'],
  ['dev', 'val'],
  ['publictest', 'val'],
  ['test', 'test'],
  ['testing', 'test'],
  ['privatetest', 'test'],
]);

/** The split a folder name stands for (`Training` → train, `PublicTest` → val, `PrivateTest` → test), if any. */
export const parseSplitName = (name: string): SplitName | undefined => SPLIT_BY_NAME.get(name.trim().toLowerCase());

/** For error messages: what a class folder may be called. */
export const CLASS_NAME_HINT = `${EXPRESSIONS.join(', ')} (or a synonym, or 0–${NUM_CLASSES - 1})`;
