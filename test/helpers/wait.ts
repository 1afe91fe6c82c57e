// Polls a condition, bounded in time: the tests' only way to wait for something asynchronous.

export async function until(cond: () => boolean | Promise<boolean>, what = 'the condition', ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
