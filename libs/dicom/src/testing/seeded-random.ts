// Deterministic randomness for test data: the same seed writes byte-identical files (and the same UIDs).

/** mulberry32: small, fast, good enough for noise, shuffles and file names. Returns numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A "2.25." UID (PS3.5 B.2: a UUID as a decimal integer) drawn from `random`: unique per seed and call. */
export function seededUid(random: () => number): string {
  let value = 0n;
  for (let i = 0; i < 4; i++) value = (value << 32n) | BigInt(Math.floor(random() * 4294967296));
  return `2.25.${value.toString()}`;
}

/** Lower-case hex name of `length` characters (random file names, so nothing can sort by name). */
export function seededHex(random: () => number, length: number): string {
  return Array.from({ length }, () => Math.floor(random() * 16).toString(16)).join('');
}

/** Fisher–Yates shuffle of 0..n-1. */
export function seededPermutation(random: () => number, n: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** A seed mixing `text` (e.g. the series UID) with `seed` (FNV-1a), so derived objects get their own UIDs. */
export function seedFrom(text: string, seed: number): number {
  let hash = 0x811c9dc5 ^ seed;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}
