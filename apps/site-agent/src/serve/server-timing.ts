/**
 * The `Server-Timing` header (W3C Server Timing) of a segmentation answer: where the server's time went, step by
 * step, in milliseconds. A client (or a browser's developer tools) reads it next to its own wall time, so the
 * time spent outside the server (the network, the client's own work) is what is left.
 *
 * Steps, in the order a request goes through them (every one is a disjoint span, so their sum is at most
 * `total`; what is left is scheduling between them):
 *   read          receiving the request body
 *   decode-image  decoding the PNG/JPEG (or rendering the DICOM frame) and checking the prompt against it
 *   wait          waiting for the model (earlier requests still running, the bundle pointer check)
 *   embed         the routed segmenter's steps (RoutedPrediction.timings): preprocess + image encoder,
 *   route         routing (pooling + every task's VAE score),
 *   align         the chosen task's Alignment Layer,
 *   decode        prompt decoder + mask upscaling and thresholding
 *   encode        the answer: mask PNG (or DICOM-SEG) and the JSON around it
 *   total         from the request's first handling to the answer ready to send
 */
export const SERVER_TIMING_STEPS = [
  'read',
  'decode-image',
  'wait',
  'embed',
  'route',
  'align',
  'decode',
  'encode',
] as const;

export type ServerTimingStep = (typeof SERVER_TIMING_STEPS)[number];

export class ServerTiming {
  private readonly start = performance.now();
  private last = this.start;
  private readonly dur = new Map<ServerTimingStep, number>();

  /** Ends the span that started at the previous mark (or at construction) and books it to `step`. */
  mark(step: ServerTimingStep): void {
    const now = performance.now();
    this.add(step, now - this.last);
    this.last = now;
  }

  /** Books `ms` measured elsewhere to `step`. */
  add(step: ServerTimingStep, ms: number): void {
    this.dur.set(step, (this.dur.get(step) ?? 0) + ms);
  }

  /** Restarts the running span now (time since the previous mark is booked nowhere). */
  skip(): void {
    this.last = performance.now();
  }

  /** `read;dur=0.11, decode-image;dur=2.03, …, total;dur=14.2` (steps that were measured, then the total). */
  header(): string {
    const total = performance.now() - this.start;
    const parts = SERVER_TIMING_STEPS.filter((s) => this.dur.has(s)).map(
      (s) => `${s};dur=${fmt(this.dur.get(s)!)}`,
    );
    parts.push(`total;dur=${fmt(total)}`);
    return parts.join(', ');
  }
}

const fmt = (ms: number) => (Math.round(ms * 100) / 100).toString();

/** Parses a `Server-Timing` header into name → dur (ms); metrics without a duration are left out. */
export function parseServerTiming(header: string | null | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const metric of (header ?? '').split(',')) {
    const [name, ...params] = metric.split(';').map((s) => s.trim());
    const dur = params.find((p) => p.startsWith('dur='));
    if (name && dur) out[name] = Number(dur.slice(4));
  }
  return out;
}
