/**
 * The single place the model code gets TensorFlow.js from. Backends register themselves against this same
 * tfjs-core instance (see backend/backends.ts). tfjs-core alone ships no gradients; training needs them.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
export { tf };
