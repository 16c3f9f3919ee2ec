// Search as you type: every keystroke asks, only the newest answer is shown, so a slow
// answer to "sm" never overwrites the answer to "smi".
export class Latest<T> {
  private issued = 0;

  /** Runs `work`; resolves to its result, or to `undefined` when a newer run started since. */
  async run(work: () => Promise<T>): Promise<T | undefined> {
    const ticket = ++this.issued;
    const result = await work();
    return ticket === this.issued ? result : undefined;
  }
}
