/**
 * An ONNX model cut down to the outputs a caller fetches. ONNX Runtime runs every node of a graph on every run,
 * whatever outputs are asked for: the `SamOnnxModel` decoder upscales all four masks to the image size
 * (`masks`, a quarter of a million bilinear samples and ~60 nodes) even when only `low_res_masks` and
 * `iou_predictions` are fetched, as the engine's decode() does. On casam-tiny that postprocessing is about half
 * of the decoder's time (2.1 → 1.1 ms a run, same outputs bit for bit).
 *
 * Hand-written because it is a walk over the node list: keep the nodes that an output needs, backwards, then
 * the initializers and inputs they read. It only rewrites files it can write back unchanged: the model must
 * survive a decode/encode round trip through the declared subset of the ONNX schema (onnx-proto.ts) byte for
 * byte (true of this project's exports; a file with fields outside that subset, e.g. a PyTorch export, is left
 * alone), and keep its weights inline (a side file is found relative to the model's path, which an in-memory
 * model does not have).
 */
import { OnnxDataLocation, decodeModelProto, encodeModelProto } from './export/onnx-proto';

/**
 * `model` with only the nodes, initializers and inputs that `outputs` need, and only those outputs; null when
 * the file is not one this can rewrite (see the header), one of `outputs` or `dropped` is not an output of it,
 * or nothing would be removed. `dropped`: outputs the caller expects the file to have and means to cut.
 */
export function pruneOnnxOutputs(
  model: Uint8Array,
  outputs: readonly string[],
  dropped: readonly string[] = [],
): Uint8Array | null {
  let m;
  try {
    m = decodeModelProto(model);
  } catch {
    return null; // not ONNX: the caller's loader reports it
  }
  const g = m.graph;
  if (!g || ![...outputs, ...dropped].every((o) => g.output.some((v) => v.name === o))) return null;
  if (g.initializer.some((t) => t.dataLocation === OnnxDataLocation.EXTERNAL)) return null;
  if (!bytesEqual(encodeModelProto(m), model)) return null;
  const needed = new Set(outputs);
  const nodes = [];
  // ONNX lists nodes in topological order, so one backward pass sees every consumer before its producers.
  for (let i = g.node.length - 1; i >= 0; i--) {
    const n = g.node[i];
    if (!n.output.some((o) => needed.has(o))) continue;
    nodes.push(n);
    for (const x of n.input) if (x) needed.add(x);
  }
  if (nodes.length === g.node.length && g.output.length === outputs.length) return null;
  g.node = nodes.reverse();
  g.output = outputs.map((o) => g.output.find((v) => v.name === o)!);
  g.initializer = g.initializer.filter((t) => needed.has(t.name));
  g.input = g.input.filter((v) => needed.has(v.name));
  return encodeModelProto(m);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
