// Vitest setup: tfjs-core's gradients, which the libraries register lazily with a CommonJS require
// (libs/casam-core/src/sam/tf.ts) that Vitest's module runner cannot serve for tfjs-core's ESM files.
// tfjs-core itself first: whichever copy loads first creates the engine, and tensors must come from the
// package's main build, whose op handler is set (the ESM gradient files load only part of the ESM copy).
import '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
