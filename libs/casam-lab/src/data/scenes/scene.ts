/** What a synthetic domain is: metadata plus a renderer that draws one image and its masks from a seeded rng. */
import { RgbImage } from '@casam/casam-core';
import { Rng, Shape, Size, uniform } from '../draw';

export interface SceneOutput {
  image: RgbImage;
  /** One 0/1 mask per class name (image size). A class may be absent from an item; at least one is present. */
  masks: Record<string, Uint8Array>;
}

export interface DomainDefinition {
  name: string;
  /** Free-text imaging modality, e.g. 'MR', 'CT', 'histopathology'. */
  modality: string;
  /** Class names; their ids in a dataset are 1, 2, … in this order. */
  classes: readonly string[];
  description: string;
  /** Kept out of training: used to test the router's fallback to plain SAM. */
  unseen: boolean;
  render(rng: Rng, size: number): SceneOutput;
}

/**
 * Anatomy coordinates (u, v in about [-1, 1], v down) mapped to pixels through a random similarity transform,
 * so every item varies in position, scale and rotation while a scene is written once in one frame.
 */
export interface Frame {
  size: Size;
  /** Pixel x/y of anatomy point (u, v). */
  x(u: number, v: number): number;
  y(u: number, v: number): number;
  /** Anatomy coordinates of pixel point (x, y): the inverse of x/y, for shapes defined in anatomy space. */
  u(x: number, y: number): number;
  v(x: number, y: number): number;
  /** Anatomy length → pixels. */
  len(l: number): number;
  /** Anatomy angle (radians) → image angle. */
  angle(a: number): number;
}

export interface FrameRanges {
  /** Max rotation, degrees (±). */
  rotate: number;
  scale: readonly [number, number];
  /** Max shift as a fraction of the image size (±). */
  shift: number;
  /** Mirror left/right with probability ½ (left and right eyes, not CT anatomy). */
  mirror?: boolean;
}

export function randomFrame(rng: Rng, s: number, r: FrameRanges): Frame {
  const rot = (uniform(rng, -r.rotate, r.rotate) * Math.PI) / 180;
  const k = (uniform(rng, r.scale[0], r.scale[1]) * s) / 2;
  const cx = s / 2 + uniform(rng, -r.shift, r.shift) * s;
  const cy = s / 2 + uniform(rng, -r.shift, r.shift) * s;
  const m = r.mirror && rng() < 0.5 ? -1 : 1;
  const c = Math.cos(rot);
  const sn = Math.sin(rot);
  return {
    size: { width: s, height: s },
    x: (u, v) => cx + k * (m * u * c - v * sn),
    y: (u, v) => cy + k * (m * u * sn + v * c),
    u: (x, y) => (m * ((x - cx) * c + (y - cy) * sn)) / k,
    v: (x, y) => (-(x - cx) * sn + (y - cy) * c) / k,
    len: (l) => l * k,
    angle: (a) => (m < 0 ? Math.PI - a : a) + rot,
  };
}

/**
 * The band |v − curve(u)| ≤ thick/2 in anatomy space (jaw bones, folds, layers): a cheap shape for long
 * curves, where a many-segment stroke would cost a distance per segment per pixel. Distances are vertical
 * (exact enough for gentle curves).
 */
export function curveBand(F: Frame, curve: (u: number) => number, thick: number): Shape {
  const k = F.len(1);
  return {
    bounds: [-1, -1, F.size.width + 1, F.size.height + 1],
    sdf: (x, y) => (Math.abs(F.v(x, y) - curve(F.u(x, y))) - thick / 2) * k,
  };
}
