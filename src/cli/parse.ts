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

export function nonNegativeInt(value: string): number {
  const x = int(value);
  if (x < 0) throw new InvalidArgumentError(`"${value}" must be 0 or more.`);
  return x;
}

export function positiveFloat(value: string): number {
  const x = float(value);
  if (x <= 0) throw new InvalidArgumentError(`"${value}" must be above 0.`);
  return x;
}

export function port(value: string): number {
  const x = int(value);
  if (x < 0 || x > 65535) throw new InvalidArgumentError(`"${value}" is not a port (0–65535; 0 = any free port).`);
  return x;
}
