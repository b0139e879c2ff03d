/** Small numeric helpers over flat row-major arrays (n rows × `classes` columns), shared by the stages. */

/** softmax(logits / temperature) per row of `classes`, shifted by the row maximum so exp never overflows. */
export function softmaxRows(logits: Float32Array, classes: number, temperature = 1): Float32Array {
  const out = new Float32Array(logits.length);
  for (let row = 0; row < logits.length; row += classes) {
    let max = -Infinity;
    for (let k = 0; k < classes; k++) max = Math.max(max, logits[row + k]! / temperature);
    let sum = 0;
    for (let k = 0; k < classes; k++) {
      const e = Math.exp(logits[row + k]! / temperature - max);
      out[row + k] = e;
      sum += e;
    }
    for (let k = 0; k < classes; k++) out[row + k]! /= sum;
  }
  return out;
}
