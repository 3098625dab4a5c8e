/**
 * A failure of the environment at start-up, not a bug: a listener's address is in use or not
 * permitted, a socket path is held by a live daemon, a file cannot be read or created.
 *
 * `cbv serve` prints `message` as one line (it must name the listener or file and the cause) and
 * exits with `exitCode`, which the systemd unit lists in RestartPreventExitStatus so that a
 * misconfigured or doubled daemon is not restarted in a loop. `internal error` (exit 70) stays
 * reserved for bugs.
 */
export class StartupError extends Error {
  /** @param exitCode a sysexits(3) status; EX_CANTCREAT (73) unless the caller knows better. */
  constructor(
    message: string,
    readonly exitCode: number = 73,
  ) {
    super(message);
    this.name = 'StartupError';
  }
}
