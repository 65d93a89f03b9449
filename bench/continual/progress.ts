/**
 * Progress of the continual benchmark on stderr: one status line (rewritten in place on a terminal, printed
 * every few seconds otherwise) with the unit being trained, its epoch/step/loss and the overall share of
 * training steps done with an ETA at this run's pace, plus plain lines for events.
 */
export class BenchProgress {
  private done = 0;
  private doneThisRun = 0;
  private readonly start = performance.now();
  private lastPrint = 0;
  private label = '';
  private readonly tty = Boolean(process.stderr.isTTY);
  private statusShown = false;

  constructor(
    private readonly totalSteps: number,
    private readonly intervalMs = 10_000,
  ) {}

  /** Steps finished by an earlier run (read back from the state file). */
  skip(steps: number): void {
    this.done += steps;
  }

  unit(label: string): void {
    this.label = label;
    this.lastPrint = 0;
  }

  /** One training step finished. */
  step(detail: string): void {
    this.done++;
    this.doneThisRun++;
    this.status(detail);
  }

  /** A status update without a step (embedding, evaluation). */
  status(detail: string, force = false): void {
    const now = performance.now();
    if (!force && !this.tty && now - this.lastPrint < this.intervalMs) return;
    this.lastPrint = now;
    const pct = this.totalSteps ? (100 * this.done) / this.totalSteps : 100;
    const elapsed = (now - this.start) / 1000;
    const eta =
      this.doneThisRun > 0 ? (elapsed / this.doneThisRun) * Math.max(0, this.totalSteps - this.done) : null;
    const line = `[${pct.toFixed(0).padStart(3)}% of training · ${fmtDuration(elapsed)} elapsed${eta !== null ? ` · ~${fmtDuration(eta)} left` : ''}] ${this.label}${detail ? ': ' + detail : ''}`;
    if (this.tty) {
      process.stderr.write('\r\x1b[K' + line.slice(0, (process.stderr.columns || 200) - 1));
      this.statusShown = true;
    } else process.stderr.write(line + '\n');
  }

  /** A line that stays (ends the status line first on a terminal). */
  log(line: string): void {
    if (this.tty && this.statusShown) {
      process.stderr.write('\r\x1b[K');
      this.statusShown = false;
    }
    process.stderr.write(line + '\n');
  }
}

export function fmtDuration(s: number): string {
  if (s < 90) return `${s.toFixed(0)} s`;
  if (s < 5400) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
