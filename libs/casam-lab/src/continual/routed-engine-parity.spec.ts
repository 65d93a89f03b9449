/**
 * The routed segmenter on ONNX Runtime (the site's default engine) against the TF.js one, on the continual
 * benchmark's test images: the embedded casam-tiny model, three tasks trained here by the site pipeline
 * (trainTask, small budgets: the point is real trained layers, VAEs and τ, not good ones), and the test split of
 * those three domains plus an unseen one, drawn as `npm run bench:continual -- --quick` draws them (splitItems,
 * seed 1, 4 test images per domain). Each image is segmented with the tight box of each of its regions, as the
 * benchmark evaluates (the first two regions of each). Both engines must take the same route (task or fallback) for every image and give the
 * same masks: a thresholded pixel may differ only where the logit is within float noise of 0.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildSam,
  createOnnxRoutedSegmenter,
  createRoutedSegmenter,
  createTfjsSamEngine,
  exportRoutedSegmenterOnnx,
  getPreset,
  initBackend,
  loadAdapter,
  loadSamWeights,
  maskBoundingBox,
  type RoutedPrediction,
  type RoutedSegmenter,
  splitRegions,
  stateDictFingerprint,
  tf,
  toFloat32,
  trainTask,
  type TrainingItem,
} from '@casam/casam-core';
import { splitItems } from '../data/domain-items';

const MODEL = resolve(__dirname, '../../../../models/casam-tiny/casam-tiny.safetensors');
const TASKS = ['msd-spleen-ct', 'polyp-endoscopy', 'sts-dental-xray'];
const UNSEEN = 'skin-lesion-dermoscopy';
/** Test images per domain of `bench:continual --quick` (bench/continual/protocol.ts QUICK.testImages). */
const QUICK_TEST_IMAGES = 4;
/** Box prompts per image (its first regions): the route is per image; more boxes only repeat the decoder. */
const REGIONS_PER_IMAGE = 2;
/** |logit| below this counts as "on the decision boundary": float noise between engines may flip its sign. */
const BOUNDARY_LOGIT = 1e-3;

describe.skipIf(!existsSync(MODEL))(
  'routed segmentation, ONNX Runtime vs TF.js, on the continual benchmark’s test images (casam-tiny, 3 trained tasks)',
  () => {
    const cfg = getPreset('casam-tiny');
    const data = { size: cfg.imgSize, seed: 1 };
    let dir: string;
    let tfjs: RoutedSegmenter;
    let onnx: RoutedSegmenter;
    const test: { domain: string; item: TrainingItem }[] = [];

    beforeAll(async () => {
      await initBackend({ prefer: 'wasm', log: () => undefined });
      await tf.setBackend('wasm');
      dir = mkdtempSync(join(tmpdir(), 'casam-routed-parity-'));
      const sd = loadSamWeights(MODEL, cfg);
      const fingerprint = stateDictFingerprint(sd);
      const sam = buildSam(cfg, sd);
      const engine = createTfjsSamEngine(sam);
      const adapterPaths: string[] = [];
      for (const [k, domain] of TASKS.entries()) {
        const items = splitItems(domain, { train: 6, test: QUICK_TEST_IMAGES }, data);
        for (const item of items.test) test.push({ domain, item });
        const r = await trainTask({
          taskId: domain,
          train: items.train,
          val: items.test,
          engine,
          sam,
          baseModel: { preset: cfg.name, fingerprint },
          cacheDir: join(dir, 'cache'),
          workDir: join(dir, `task-${k}`),
          seed: 1 + k,
          al: { epochs: 1, batchImages: 3, regionsPerImage: 2, lossResolution: 'low' },
          vae: { epochs: 20, batchSize: 6, lr: 5e-4 },
          tau: { folds: 2 },
          boundaryIou: false,
          createdAt: new Date(0),
        });
        adapterPaths.push(r.adapterPath);
      }
      for (const item of splitItems(UNSEEN, { test: QUICK_TEST_IMAGES }, data).test)
        test.push({ domain: UNSEEN, item });
      const load = () =>
        adapterPaths.map((p) => loadAdapter(new Uint8Array(readFileSync(p)), cfg.promptEmbedDim));
      const forExport = load();
      exportRoutedSegmenterOnnx(join(dir, 'onnx'), cfg, sd, forExport, { modelFingerprint: fingerprint });
      for (const a of forExport) {
        a.align.dispose();
        a.vae.dispose();
      }
      tfjs = createRoutedSegmenter(engine, load());
      onnx = await createOnnxRoutedSegmenter({
        config: cfg,
        exportDir: join(dir, 'onnx'),
        adapters: load(),
        modelFingerprint: fingerprint,
        threads: 1,
      });
    }, 180_000);

    afterAll(() => {
      onnx?.dispose();
      tfjs?.dispose();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('takes the same route for every image and gives the same masks', async () => {
      const routeOf = (p: RoutedPrediction) =>
        p.route.decision.kind === 'task' ? p.route.decision.taskId : 'fallback';
      let prompts = 0;
      let worstLogit = 0;
      let worstScoreRel = 0;
      let flipped = 0;
      let worstFlippedLogit = 0;
      const routes: string[] = [];
      for (const { domain, item } of test) {
        const { width, height } = item.image;
        const regions = splitRegions(item.masks, width, height);
        expect(regions.length, `${item.id} has regions`).toBeGreaterThan(0);
        let route: string | null = null;
        for (const region of regions.slice(0, REGIONS_PER_IMAGE)) {
          const box = maskBoundingBox({ mask: region.mask, width, height })!;
          const prompt = { box: [...box] as [number, number, number, number] };
          const a = await tfjs.segment(item.image, prompt);
          const b = await onnx.segment(item.image, prompt);
          prompts++;
          expect(routeOf(b), `${domain} ${item.id}`).toBe(routeOf(a));
          route ??= routeOf(a);
          a.route.scores.forEach((s, k) => {
            worstScoreRel = Math.max(
              worstScoreRel,
              Math.abs(s.score - b.route.scores[k].score) / Math.abs(s.score),
            );
          });
          const la = toFloat32(a.masks);
          const lb = toFloat32(b.masks);
          for (let p = 0; p < la.length; p++) {
            const d = Math.abs(la[p] - lb[p]);
            if (d > worstLogit) worstLogit = d;
            if (la[p] > 0 !== lb[p] > 0) {
              flipped++;
              worstFlippedLogit = Math.max(worstFlippedLogit, Math.abs(la[p]), Math.abs(lb[p]));
            }
          }
          expect(b.best).toBe(a.best);
        }
        routes.push(`${domain}→${route}`);
      }
      console.log(
        `ONNX Runtime vs TF.js routed segmenter: ${test.length} test images, ${prompts} box prompts; ` +
          `routes ${routes.join(', ')}; worst VAE score rel diff ${worstScoreRel.toExponential(2)}; ` +
          `worst mask logit diff ${worstLogit.toExponential(2)}; thresholded pixels that differ ${flipped}` +
          (flipped ? ` (largest |logit| among them ${worstFlippedLogit.toExponential(2)})` : ''),
      );
      // Real trained tasks: images of their own domains go to them and the unseen domain's fall back (at least
      // one each), so both paths are compared.
      expect(routes.some((r) => r.endsWith('→fallback'))).toBe(true);
      expect(routes.some((r) => !r.endsWith('→fallback'))).toBe(true);
      expect(worstScoreRel).toBeLessThan(1e-4);
      expect(worstLogit).toBeLessThanOrEqual(1e-3);
      expect(worstFlippedLogit).toBeLessThan(BOUNDARY_LOGIT);
    }, 120_000);
  },
);
