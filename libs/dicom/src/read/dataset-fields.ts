// Typed, total accessors for naturalized dcmjs datasets. dcmjs gives `unknown`-shaped values (a string, a
// number, an array of either, nested datasets, ArrayBuffers) and hospital files omit tags freely, so every
// reader goes through these: a missing or odd tag is `undefined`, never a TypeError.
import type { NaturalDataset } from 'dcmjs';

export type Dataset = NaturalDataset;

/** First value of a tag as a string (PN values come back as { Alphabetic } objects). */
export function str(ds: Dataset | undefined, key: string): string | undefined {
  const raw = first(ds?.[key]);
  if (typeof raw === 'string') return raw.trim() || undefined;
  if (typeof raw === 'number') return String(raw);
  if (raw && typeof raw === 'object' && typeof (raw as { Alphabetic?: unknown }).Alphabetic === 'string') {
    return (raw as { Alphabetic: string }).Alphabetic.trim() || undefined;
  }
  return undefined;
}

/** First value of a tag as a finite number (DS/IS may arrive as strings). */
export function num(ds: Dataset | undefined, key: string): number | undefined {
  return toNumber(first(ds?.[key]));
}

/** All values of a multi-valued numeric tag; undefined unless every value is a finite number. */
export function nums(ds: Dataset | undefined, key: string, length?: number): number[] | undefined {
  const raw = ds?.[key];
  const values = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]).map(toNumber);
  if (values.length === 0 || values.some((v) => v === undefined)) return undefined;
  if (length !== undefined && values.length !== length) return undefined;
  return values as number[];
}

/** Items of a sequence (dcmjs gives a lone item as an object, several as an array). */
export function seq(ds: Dataset | undefined, key: string): Dataset[] {
  const raw = ds?.[key];
  const items = Array.isArray(raw) ? raw : raw && typeof raw === 'object' ? [raw] : [];
  return items.filter((item): item is Dataset => !!item && typeof item === 'object' && !isBinary(item));
}

/** First item of a sequence, if any. */
export function item(ds: Dataset | undefined, key: string): Dataset | undefined {
  return seq(ds, key)[0];
}

/** A binary value (OB/OW/OF) as bytes; dcmjs gives an array of ArrayBuffers (one per fragment/frame). */
export function binaryParts(ds: Dataset | undefined, key: string): Uint8Array[] | undefined {
  const raw = ds?.[key];
  const parts = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  const bytes = parts.filter(isBinary).map((p) => (ArrayBuffer.isView(p) ? viewBytes(p) : new Uint8Array(p)));
  return bytes.length > 0 ? bytes : undefined;
}

function first(value: unknown): unknown {
  return Array.isArray(value) ? value[0] : value;
}

function toNumber(value: unknown): number | undefined {
  const n =
    typeof value === 'number' ? value : typeof value === 'string' && value.trim() ? Number(value) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

function isBinary(value: unknown): value is ArrayBuffer | ArrayBufferView {
  return value instanceof ArrayBuffer || ArrayBuffer.isView(value);
}

function viewBytes(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}
