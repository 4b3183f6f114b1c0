/**
 * Editor responsiveness, against fixed budgets (the "peer" column is the budget):
 * - activation: the bundled extension (dist/extension.js) required and activated
 *   in a fresh Node process under a stand-in `vscode` module (activateChild.cjs),
 *   with the Node built-ins the extension host has already loaded preloaded; a
 *   Node-level measurement, not VS Code's own "activated in" figure (which the
 *   extension also logs, and which is reported in the note);
 * - the Models tree's data: openModel + summarize of every model in a workspace
 *   of 200 model files, and of one TF.js model.json with 1,000 Dense layers —
 *   what the tree computes before it can show rows.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { summarize } from '../../src/core/analysis/summary';
import { openModel } from '../../src/core/formats/registry';
import { EXAMPLES, exampleDir, hasExample } from './models';
import { log, measure, peerEnv, ROOT, tempDir, timing, type Row } from './util';

export interface EditorOptions {
  runs: number;
  warmup: number;
}

const ACTIVATION_BUDGET = 0.05;
const TREE_BUDGET = 1;

export async function benchEditor(o: EditorOptions): Promise<{ rows: Row[]; info: Record<string, unknown> }> {
  const rows: Row[] = [];
  const info: Record<string, unknown> = {};
  rows.push(activation(o, info));

  const dir = tempDir('editor');
  try {
    log('editor: 200-file workspace');
    const files = await makeWorkspace(path.join(dir, 'workspace'), 200);
    info['workspace'] = { files: files.length, formats: countBy(files.map((f) => path.extname(f) || path.basename(f))) };
    let failures = 0;
    const fill = async () => {
      failures = 0;
      for (const f of files) {
        try {
          await summarize(await openModel(f));
        } catch {
          failures++; // the tree shows an error row; still counted
        }
      }
    };
    const workspace = await measure(fill, o.runs, o.warmup);
    rows.push({
      section: 'editor',
      case: `Models tree data, workspace of ${files.length} model files`,
      ours: workspace,
      peerName: 'budget',
      peer: timing([TREE_BUDGET]),
      ratio: TREE_BUDGET / workspace.median,
      target: 1,
      note: `openModel + summarize of each file in turn${failures ? `; ${failures} files ended in an error row` : ''}`,
    });

    log('editor: 1,000-layer model.json');
    const big = makeDeepModel(path.join(dir, 'deep'), 1000);
    let layers = 0;
    const deep = await measure(async () => {
      layers = (await summarize(await openModel(big))).layers.length;
    }, o.runs, o.warmup);
    rows.push({
      section: 'editor',
      case: 'Models tree data, TF.js model.json with 1,000 Dense layers',
      ours: deep,
      peerName: 'budget',
      peer: timing([TREE_BUDGET]),
      ratio: TREE_BUDGET / deep.median,
      target: 1,
      note: `${layers} layers summarized`,
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { rows, info };
}

function activation(o: EditorOptions, info: Record<string, unknown>): Row {
  const label = 'extension activation (require dist/extension.js + activate)';
  const bundle = path.join(ROOT, 'dist', 'extension.js');
  // Built now, as `npm run build` does, so that a stale or differently built bundle is never what gets timed.
  const build = spawnSync(process.execPath, [path.join(ROOT, 'esbuild.mjs')], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  if (build.status !== 0 || !fs.existsSync(bundle)) {
    const why = build.status !== 0 ? `node esbuild.mjs failed: ${(build.stderr || build.stdout).trim().split('\n').slice(-2).join(' ')}` : 'dist/extension.js is missing';
    return { section: 'editor', case: label, ours: null, peerName: 'budget', peer: timing([ACTIVATION_BUDGET]), ratio: null, target: 1, note: why };
  }
  log('editor: activation');
  const child = path.join(__dirname, 'activateChild.cjs');
  const runOnce = (preload: boolean) => {
    const r = spawnSync(process.execPath, [child, ROOT, ...(preload ? ['preload'] : [])], { encoding: 'utf8', timeout: 60_000, env: peerEnv() });
    if (r.status !== 0) throw new Error(`activation child failed: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as { requireMs: number; activateMs: number; reportedMs: number | null };
  };
  try {
    const warm: ReturnType<typeof runOnce>[] = [];
    for (let i = 0; i < o.warmup; i++) runOnce(true);
    const runs = Math.max(5, o.runs);
    for (let i = 0; i < runs; i++) warm.push(runOnce(true));
    const bare = Array.from({ length: 3 }, () => runOnce(false));
    const total = timing(warm.map((r) => (r.requireMs + r.activateMs) / 1000));
    const med = (xs: number[]) => timing(xs).median;
    const requireMs = med(warm.map((r) => r.requireMs));
    const activateMs = med(warm.map((r) => r.activateMs));
    const reported = med(warm.map((r) => r.reportedMs ?? NaN));
    const bareMs = med(bare.map((r) => r.requireMs + r.activateMs));
    const stat = fs.statSync(bundle);
    info['activation'] = { requireMs, activateMs, reportedActivatedInMs: reported, bareNodeMs: bareMs, bundleBytes: stat.size, bundleBuilt: stat.mtime.toISOString() };
    return {
      section: 'editor',
      case: label,
      ours: total,
      peerName: 'budget',
      peer: timing([ACTIVATION_BUDGET]),
      ratio: ACTIVATION_BUDGET / total.median,
      target: 1,
      note: `require ${requireMs.toFixed(0)} ms + activate() ${activateMs.toFixed(1)} ms (logs "activated in ${reported.toFixed(1)} ms"); without preloaded built-ins ${bareMs.toFixed(0)} ms; bundle ${(stat.size / 1024).toFixed(0)} KiB`,
    };
  } catch (e) {
    return { section: 'editor', case: label, ours: null, peerName: 'budget', peer: timing([ACTIVATION_BUDGET]), ratio: null, target: 1, note: (e as Error).message };
  }
}

/**
 * A workspace of `count` small model files: the single-file fixtures under 1 MiB
 * that open cleanly (test/fixtures/generated and real: ONNX, TFLite,
 * safetensors, Keras, PyTorch, GGUF; the deliberately corrupt ones are left
 * out) and the example TF.js models, copied round-robin, one folder each.
 */
async function makeWorkspace(root: string, count: number): Promise<string[]> {
  const sources: { file: string; siblings: string[] }[] = [];
  for (const sub of ['generated', 'real']) {
    const base = path.join(ROOT, 'test', 'fixtures', sub);
    if (!fs.existsSync(base)) continue;
    for (const f of walk(base)) {
      if (!/\.(onnx|tflite|safetensors|h5|keras|pt|pth|gguf)$/i.test(f) || fs.statSync(f).size >= 1 << 20) continue;
      // Keep it if it opens on its own, away from any sibling files.
      const probe = path.join(root, 'probe', String(sources.length));
      fs.mkdirSync(probe, { recursive: true });
      const copy = path.join(probe, path.basename(f));
      fs.copyFileSync(f, copy);
      try {
        await summarize(await openModel(copy));
        sources.push({ file: f, siblings: [] });
      } catch {
        /* corrupt fixture, or one that needs sibling files */
      }
    }
  }
  for (const id of EXAMPLES) {
    if (!hasExample(id)) continue;
    const d = exampleDir(id);
    sources.push({ file: path.join(d, 'model.json'), siblings: fs.readdirSync(d).filter((f) => f !== 'model.json').map((f) => path.join(d, f)) });
  }
  fs.rmSync(path.join(root, 'probe'), { recursive: true, force: true });
  if (sources.length === 0) throw new Error('no model files to build the workspace from (test/fixtures or examples)');
  sources.sort((a, b) => a.file.localeCompare(b.file));
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const src = sources[i % sources.length]!;
    const dir = path.join(root, `m${String(i).padStart(3, '0')}`);
    fs.mkdirSync(dir, { recursive: true });
    const target = path.join(dir, path.basename(src.file));
    fs.copyFileSync(src.file, target);
    for (const s of src.siblings) fs.copyFileSync(s, path.join(dir, path.basename(s)));
    out.push(target);
  }
  return out;
}

function* walk(dir: string): Generator<string> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else yield p;
  }
}

function countBy(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

/** A TF.js layers model.json with `layers` Dense layers of 16 units (and its weights.bin). */
function makeDeepModel(dir: string, layers: number): string {
  fs.mkdirSync(dir, { recursive: true });
  const units = 16;
  const config = [];
  const weights = [];
  for (let i = 0; i < layers; i++) {
    const name = `dense_${i}`;
    config.push({
      class_name: 'Dense',
      config: {
        name, units, activation: i === layers - 1 ? 'softmax' : 'relu', use_bias: true, trainable: true, dtype: 'float32',
        kernel_initializer: { class_name: 'GlorotUniform', config: { seed: null } }, bias_initializer: { class_name: 'Zeros', config: {} },
        kernel_regularizer: null, bias_regularizer: null, activity_regularizer: null, kernel_constraint: null, bias_constraint: null,
        ...(i === 0 ? { batch_input_shape: [null, units] } : {}),
      },
    });
    weights.push({ name: `${name}/kernel`, shape: [units, units], dtype: 'float32' }, { name: `${name}/bias`, shape: [units], dtype: 'float32' });
  }
  const model = {
    format: 'layers-model',
    generatedBy: 'parsimony bench',
    convertedBy: null,
    modelTopology: { class_name: 'Sequential', config: { name: 'deep', layers: config }, keras_version: 'tfjs-layers 4.22.0', backend: 'tensor_flow.js' },
    weightsManifest: [{ paths: ['weights.bin'], weights }],
  };
  const file = path.join(dir, 'model.json');
  fs.writeFileSync(file, JSON.stringify(model));
  fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.alloc(layers * (units * units + units) * 4));
  return file;
}
