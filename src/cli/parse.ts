import { InvalidArgumentError } from 'commander';

/** Commander argument parsers: a bad number is a usage error naming the value, not a NaN deep in training. */
export function float(value: string): number {
  const x = Number(value);
  if (value.trim() === '' || !Number.isFinite(x)) throw new InvalidArgumentError(`"${value}" is not a number.`);
  return x;
}

export function int(value: string): number {
  const x = float(value);
  if (!Number.isInteger(x)) throw new InvalidArgumentError(`"${value}" is not a whole number.`);
  return x;
}

export function positiveInt(value: string): number {
  const x = int(value);
  if (x < 1) throw new InvalidArgumentError(`"${value}" must be at least 1.`);
  return x;
}
