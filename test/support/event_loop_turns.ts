/**
 * Counts event-loop turns (one setImmediate callback each) from start until stop: tests that
 * something lets the loop run while it works count turns, not milliseconds.
 */
export class EventLoopTurns {
  private n = 0;
  private running = true;

  constructor() {
    const tick = (): void => {
      if (!this.running) return;
      this.n++;
      setImmediate(tick);
    };
    setImmediate(tick);
  }

  /** Turns counted so far. */
  get turns(): number {
    return this.n;
  }

  /** Stops counting; returns the count. */
  stop(): number {
    this.running = false;
    return this.n;
  }
}
