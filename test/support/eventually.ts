/** Waits until `check` holds, polling; fails naming `what` when it does not within `withinMs`. */
export async function eventually(check: () => Promise<boolean>, what: string, withinMs = 5_000) {
  const deadline = Date.now() + withinMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${withinMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
