// Everything the bench starts registers how to undo it here; run() undoes it in reverse order, once, whether the bench
// finished, threw or was interrupted. A step that fails is reported and the rest still run.

export class Teardown {
  private readonly steps: { what: string; undo: () => Promise<void> | void }[] = [];
  private running: Promise<void> | undefined;

  /** Registers an undo step; the returned function runs it now (and unregisters it), for a phase that ends early. */
  add(what: string, undo: () => Promise<void> | void): () => Promise<void> {
    const step = { what, undo };
    this.steps.push(step);
    return async () => {
      const i = this.steps.indexOf(step);
      if (i < 0) return;
      this.steps.splice(i, 1);
      await runStep(step);
    };
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      while (this.steps.length > 0) await runStep(this.steps.pop()!);
    })();
    return this.running;
  }
}

async function runStep(step: { what: string; undo: () => Promise<void> | void }): Promise<void> {
  try {
    await step.undo();
  } catch (err) {
    process.stderr.write(`bench: cleanup of ${step.what} failed: ${err instanceof Error ? err.message : String(err)}\n`);
  }
}
