import { openModel } from '../formats/registry';
import type { ModelDoc } from '../model';
import type { LayerSnr } from './outputSnr';

/** One model's figures for one layer, as `parsimony diff` compares them. */
export interface LayerSide {
  params: number;
  nonzeroParams: number;
  /** Storage dtypes of the layer's parameters ('float32', 'float16/float32', …). */
  dtype: string;
  /** Distinct values over the layer's kernels (clusters), null when more than 4096 or unknown. */
  distinctValues: number | null;
  bytes: number;
  sparsity: number;
}

export interface LayerDiff {
  layer: string;
  a: LayerSide | null;
  b: LayerSide | null;
  /**
   * Signal-to-noise ratio of the layer's output (b against a) on the dataset, in
   * dB: 10·log10(Σ a² / Σ (a − b)²) over all samples. null without data, for a
   * layer not in both models, and when the outputs are identical (infinite SNR,
   * which JSON cannot hold: then `outputIdentical` is true).
   */
  outputSnrDb: number | null;
  /** True when the layer's outputs were bit-for-bit equal on every sample; null without data. */
  outputIdentical: boolean | null;
}

export interface ModelDiff {
  a: string;
  b: string;
  layers: LayerDiff[];
  totals: { a: { params: number; nonzeroParams: number; bytes: number }; b: { params: number; nonzeroParams: number; bytes: number } };
  /**
   * The samples the output SNRs were measured on, and the layers of both models
   * whose outputs changed shape (units removed), which have no SNR; null without data.
   */
  snrData: { dataset: string; samples: number; shapeMismatch: string[] } | null;
}

/** Measures the per-layer output SNR of the layers both models have (see outputSnr.ts). */
export type SnrSource = (layers: string[]) => Promise<{ dataset: string; samples: number; layers: Map<string, LayerSnr>; shapeMismatch: string[] }>;

export async function describeLayers(doc: ModelDoc): Promise<Map<string, LayerSide>> {
  const out = new Map<string, LayerSide>();
  for (const layer of doc.layers) {
    let params = 0;
    let nonzero = 0;
    let bytes = 0;
    const distinct = new Set<number>();
    let distinctKnown = true;
    for (const t of layer.tensors) {
      bytes += t.bytes;
      if (!t.isParameter) continue;
      params += t.count;
      if (!t.read) {
        nonzero += t.count;
        distinctKnown = false;
        continue;
      }
      const v = await t.read();
      for (let i = 0; i < v.length; i++) {
        if (v[i] !== 0) nonzero++;
        if (distinctKnown && t.shape.length >= 2) {
          distinct.add(v[i]!);
          if (distinct.size > 4096) distinctKnown = false;
        }
      }
    }
    const dtype = [...new Set(layer.tensors.filter((t) => t.isParameter).map((t) => t.dtype))].join('/') || '—';
    out.set(layer.name, { params, nonzeroParams: nonzero, dtype, distinctValues: distinctKnown && distinct.size ? distinct.size : null, bytes, sparsity: params ? 1 - nonzero / params : 0 });
  }
  return out;
}

/** Two models layer by layer (matched by layer name, in a's order then b's extra layers). */
export async function diffModels(a: string, b: string, snr?: SnrSource): Promise<ModelDiff> {
  const [da, db] = await Promise.all([openModel(a), openModel(b)]);
  const [ma, mb] = await Promise.all([describeLayers(da), describeLayers(db)]);
  const names = [...ma.keys(), ...[...mb.keys()].filter((k) => !ma.has(k))];
  const measured = snr ? await snr(names.filter((n) => ma.has(n) && mb.has(n))) : null;
  const sum = (m: Map<string, LayerSide>) => {
    let params = 0;
    let nonzeroParams = 0;
    let bytes = 0;
    for (const s of m.values()) {
      params += s.params;
      nonzeroParams += s.nonzeroParams;
      bytes += s.bytes;
    }
    return { params, nonzeroParams, bytes };
  };
  return {
    a: da.file,
    b: db.file,
    layers: names.map((layer) => {
      const s = measured?.layers.get(layer);
      return {
        layer,
        a: ma.get(layer) ?? null,
        b: mb.get(layer) ?? null,
        outputSnrDb: s && s.snrDb !== null && Number.isFinite(s.snrDb) ? s.snrDb : null,
        outputIdentical: s ? s.noise === 0 : null,
      };
    }),
    totals: { a: sum(ma), b: sum(mb) },
    snrData: measured ? { dataset: measured.dataset, samples: measured.samples, shapeMismatch: measured.shapeMismatch } : null,
  };
}

/**
 * A Netron attachment: the JSON Netron loads beside a model ("signature":
 * "netron:attachment") to show extra per-node metrics in its sidebar.
 */
export function netronAttachment(diff: { layers: { layer: string; a: LayerSide | null; b?: LayerSide | null; outputSnrDb?: number | null; outputIdentical?: boolean | null }[] }, which: 'a' | 'b' = 'a'): string {
  const metrics: { kind: string; target: string; name: string; value: string | number; type: string }[] = [];
  for (const row of diff.layers) {
    const side = row[which];
    if (!side) continue;
    const add = (name: string, value: string | number) => metrics.push({ kind: 'node', target: row.layer, name, value, type: 'attribute' });
    add('parsimony.params', side.params);
    add('parsimony.nonzero', side.nonzeroParams);
    add('parsimony.sparsity', Number(side.sparsity.toFixed(4)));
    add('parsimony.dtype', side.dtype);
    add('parsimony.bytes', side.bytes);
    if (side.distinctValues !== null) add('parsimony.distinct', side.distinctValues);
    if (row.outputSnrDb !== null && row.outputSnrDb !== undefined) add('parsimony.outputSnrDb', Number(row.outputSnrDb.toFixed(2)));
    else if (row.outputIdentical) add('parsimony.outputSnrDb', 'identical');
  }
  return JSON.stringify({ signature: 'netron:attachment', metadata: [], metrics }, null, 2) + '\n';
}

/** 'identical' for equal outputs (infinite SNR), '—' for a layer not in both models. */
export function formatSnr(r: Pick<LayerDiff, 'outputSnrDb' | 'outputIdentical'>): string {
  if (r.outputIdentical) return 'identical';
  return r.outputSnrDb === null ? '—' : r.outputSnrDb.toFixed(1);
}
