/**
 * One verification's overall deadline (verify.budget_ms), as the AbortSignal every wait of the
 * verification listens to, joined with the caller's own signal (a shutdown).
 *
 * Why not `AbortSignal.timeout()` and `AbortSignal.any()`: Node keeps a timeout signal's timer
 * alive until it fires, with a WeakRef and a FinalizationRegistry entry per signal, and `any()`
 * adds weak references of its own to every source; a verification usually ends in milliseconds,
 * and its budget is released here at once (issue 14, bench 3: ~10 us of CPU per verification).
 * The signal aborts with the same reasons: a `TimeoutError` DOMException when the budget runs
 * out, the caller's reason when the caller cancels.
 */
export class Budget {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;

  /**
   * @param ms the budget in milliseconds, from now
   * @param cancel the caller's signal; aborting it aborts this budget's signal with its reason
   */
  constructor(
    ms: number,
    private readonly cancel?: AbortSignal,
  ) {
    this.timer = setTimeout(this.expire, ms);
    this.timer.unref();
    if (cancel?.aborted) this.controller.abort(cancel.reason);
    else cancel?.addEventListener('abort', this.onCancel, { once: true });
  }

  /** Aborts when the budget runs out or the caller cancels, whichever comes first. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  private readonly expire = (): void => {
    this.release();
    this.controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
  };

  private readonly onCancel = (): void => {
    this.release();
    this.controller.abort(this.cancel?.reason);
  };

  /** The verification and everything it started are over: stop the timer, stop listening to the caller. */
  readonly release = (): void => {
    clearTimeout(this.timer);
    this.cancel?.removeEventListener('abort', this.onCancel);
  };
}
