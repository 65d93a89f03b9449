/**
 * The single place the model code gets TensorFlow.js from. Backends register themselves against this same
 * tfjs-core instance (see backend/backends.ts). tfjs-core alone ships no gradients; training needs them, and
 * loading them costs about 0.7 CPU-seconds (204 modules), which every `site-agent` command paid at start, also
 * the ones that never train. They are registered on first use instead: every gradient computation in the
 * libraries calls `ensureGradients()` first.
 */
import * as tf from '@tensorflow/tfjs-core';
export { tf };

/** Registers tfjs-core's gradients unless they are (idempotent, cheap after the first call). */
export function ensureGradients(): void {
  if (tf.getGradient('Abs') !== undefined) return;
  // A CommonJS require, so callers stay synchronous. Under Vitest, whose require cannot load tfjs-core's ESM
  // files, tools/vitest-gradients.ts has registered them before any test runs.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('@tensorflow/tfjs-core/dist/register_all_gradients');
}
