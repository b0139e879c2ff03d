/** A throttled "loading images 1234/32298" line on a terminal; nothing when output is not a terminal. */
export function progressPrinter(label: string): ((done: number, total: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  let last = 0;
  return (done, total) => {
    const now = Date.now();
    if (done < total && now - last < 200) return;
    last = now;
    process.stderr.write(`\r${label} ${done}/${total}${done === total ? '\n' : ''}`);
  };
}
