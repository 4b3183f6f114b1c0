/**
 * Nothing lost: originals are never written (every compress method, failing
 * runs too); outputs appear whole or not at all (kill -9 and SIGTERM of a CLI
 * child at several points, a full disk at several writes, a cancelled run);
 * two jobs on one model write distinct outputs. Big and changing workspaces:
 * a 5 GB sparse model is analyzed from its header alone, and a file deleted,
 * truncated or rewritten during analysis ends in a clean ModelFormatError.
 */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { summarize } from '../../src/core/analysis/summary';
import { compressModel, type CompressStep } from '../../src/core/compress/pipeline';
import { isCancelled, isModelFormatError, isOutputError } from '../../src/core/errors';
import { looksLikeModelFile, openModel } from '../../src/core/formats/registry';
import { AtomicFileSet, atomicWriteHooks, removeOwnedFilesSync, TEMP_PATTERN } from '../../src/core/io/atomicWrite';
import { nodeFileAccess } from '../../src/core/io/fileAccess';
import { cli } from '../helpers/cli';
import { bundleCli } from '../helpers/bundleCli';
import { watchedAccess } from '../helpers/watchedAccess';

const ROOT = path.resolve(__dirname, '../..');
const FIXTURES = path.join(ROOT, 'test/fixtures');

// ---------------------------------------------------------------------------
// Helpers

function sha(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(path.relative(dir, p), sha(p));
    }
  };
  walk(dir);
  return out;
}

function copyInto(dir: string, source: string): string {
  mkdirSync(dir, { recursive: true });
  const target = path.join(dir, path.basename(source));
  if (statSync(source).isDirectory()) {
    mkdirSync(target, { recursive: true });
    for (const f of readdirSync(source)) writeFileSync(path.join(target, f), readFileSync(path.join(source, f)));
  } else writeFileSync(target, readFileSync(source));
  return target;
}

function tempDir(tag: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `parsimony-lost-${tag}-`));
}

/** A safetensors file of float32 tensors `name → [rows, cols]` (values deterministic). */
function writeSafetensors(file: string, tensors: Record<string, [number, number]>): void {
  const header: Record<string, unknown> = {};
  let offset = 0;
  const blobs: Buffer[] = [];
  let seed = 1;
  for (const [name, [r, c]] of Object.entries(tensors)) {
    const values = new Float32Array(r * c);
    for (let i = 0; i < values.length; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      values[i] = (seed / 2 ** 32 - 0.5) * 0.2;
    }
    blobs.push(Buffer.from(values.buffer));
    header[name] = { dtype: 'F32', shape: [r, c], data_offsets: [offset, offset + values.byteLength] };
    offset += values.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(file, Buffer.concat([len, json, ...blobs]));
}

/** A small TF.js layers model (Dense → BatchNorm → Dense) with its shard. */
function writeTfjsMlp(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const weights = [
    { name: 'hidden/kernel', shape: [12, 16], dtype: 'float32' },
    { name: 'hidden/bias', shape: [16], dtype: 'float32' },
    { name: 'bn/gamma', shape: [16], dtype: 'float32' },
    { name: 'bn/beta', shape: [16], dtype: 'float32' },
    { name: 'bn/moving_mean', shape: [16], dtype: 'float32' },
    { name: 'bn/moving_variance', shape: [16], dtype: 'float32' },
    { name: 'out/kernel', shape: [16, 4], dtype: 'float32' },
    { name: 'out/bias', shape: [4], dtype: 'float32' },
  ];
  const count = weights.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0);
  const values = new Float32Array(count).map((_, i) => Math.sin(i * 1.7) * 0.3 + (i % 7 === 0 ? 1 : 0));
  writeFileSync(path.join(dir, 'group1-shard1of1.bin'), new Uint8Array(values.buffer));
  const topology = {
    class_name: 'Sequential',
    config: {
      name: 'mlp',
      layers: [
        { class_name: 'Dense', config: { name: 'hidden', units: 16, activation: 'relu', use_bias: true, batch_input_shape: [null, 12], dtype: 'float32' } },
        { class_name: 'BatchNormalization', config: { name: 'bn', axis: -1, epsilon: 0.001, center: true, scale: true } },
        { class_name: 'Dense', config: { name: 'out', units: 4, activation: 'softmax', use_bias: true } },
      ],
    },
    keras_version: 'tfjs-layers 4.22.0',
    backend: 'tensor_flow.js',
  };
  const file = path.join(dir, 'model.json');
  writeFileSync(file, JSON.stringify({ format: 'layers-model', generatedBy: 'test', convertedBy: null, modelTopology: topology, weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights }] }));
  return file;
}

const METHOD_RUNS: { label: string; steps: CompressStep[] }[] = [
  { label: 'prune 50%', steps: [{ method: 'prune', options: { sparsity: 0.5, includeEnds: true } }] },
  { label: 'structured-prune 25%', steps: [{ method: 'structured-prune', options: { sparsity: 0.25 } }] },
  { label: 'quantize float16', steps: [{ method: 'quantize', options: { dtype: 'float16' } }] },
  { label: 'quantize int8 per-channel', steps: [{ method: 'quantize', options: { dtype: 'int8', perChannel: true } }] },
  { label: 'quantize uint8', steps: [{ method: 'quantize', options: { dtype: 'uint8' } }] },
  { label: 'cluster 4', steps: [{ method: 'cluster', options: { clusters: 4 } }] },
  { label: 'huffman', steps: [{ method: 'huffman', options: {} }] },
  { label: 'binarize ternary', steps: [{ method: 'binarize', options: { ternary: true, includeEnds: true } }] },
  { label: 'low-rank 2', steps: [{ method: 'low-rank', options: { rank: 2 } }] },
  { label: 'prune → cluster → huffman', steps: [{ method: 'prune', options: { sparsity: 0.5 } }, { method: 'cluster', options: { clusters: 8 } }, { method: 'huffman', options: {} }] },
  { label: 'invalid options (fails before writing)', steps: [{ method: 'cluster', options: { clusters: 1000 } }] },
];

/** Runs a compression and checks the folder: originals unchanged; on success exactly the outputs + sidecar added; on failure nothing. */
async function checkRun(dir: string, model: string, steps: CompressStep[], run: Parameters<typeof compressModel>[2] = {}): Promise<{ ok: boolean; error?: unknown }> {
  const before = snapshot(dir);
  let result: Awaited<ReturnType<typeof compressModel>> | undefined;
  let error: unknown;
  try {
    result = await compressModel(model, steps, run);
  } catch (e) {
    error = e;
  }
  const after = snapshot(dir);
  for (const [f, h] of before) assert.equal(after.get(f), h, `${f} was changed or removed`);
  const added = [...after.keys()].filter((f) => !before.has(f)).sort();
  if (result) {
    const expected = [...result.files, result.sidecar].map((f) => path.relative(dir, f)).sort();
    assert.deepEqual(added, expected, 'only the outputs and the sidecar appear');
    const doc = await openModel(result.output);
    assert.ok(doc.layers.length > 0);
    for (const f of [...result.files, result.sidecar]) rmSync(f);
    return { ok: true };
  }
  assert.deepEqual(added, [], `a failed run left ${added.join(', ')}`);
  assert.ok(isModelFormatError(error) || isCancelled(error) || isOutputError(error), `failure is a clean error: ${String(error)}`);
  return { ok: false, error };
}

// ---------------------------------------------------------------------------

describe('nothing lost: originals, atomic outputs, concurrent jobs', function () {
  this.timeout(120_000);
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  afterEach(() => {
    delete atomicWriteHooks.beforeWrite;
  });

  const sources: { format: string; make: (dir: string) => string }[] = [
    { format: 'safetensors', make: (d) => copyInto(d, path.join(FIXTURES, 'generated/safetensors/mixed_dtypes.safetensors')) },
    {
      format: 'safetensors (sharded)',
      make: (d) => path.join(copyInto(d, path.join(FIXTURES, 'generated/safetensors/sharded')), 'model.safetensors.index.json'),
    },
    { format: 'tfjs', make: (d) => writeTfjsMlp(path.join(d, 'mlp')) },
    { format: 'onnx', make: (d) => copyInto(d, path.join(FIXTURES, 'generated/onnx/cnn.onnx')) },
    { format: 'onnx (external data)', make: (d) => path.join(copyInto(d, path.join(FIXTURES, 'generated/onnx/external')), 'model.onnx') },
  ];

  for (const source of sources) {
    it(`${source.format}: every method leaves the original byte-identical; failures leave nothing`, async () => {
      const dir = tempDir('orig');
      dirs.push(dir);
      const model = source.make(dir);
      const tally: string[] = [];
      for (const m of METHOD_RUNS) {
        const r = await checkRun(dir, model, m.steps);
        tally.push(`${m.label}: ${r.ok ? 'written' : `refused (${(r.error as { code?: string; reason?: string }).code ?? (r.error as { reason?: string }).reason})`}`);
      }
      // At least one method works on every format, and the invalid one fails.
      assert.ok(tally.some((t) => t.endsWith('written')), tally.join('\n'));
      assert.match(tally.at(-1)!, /refused \(invalid-option\)/);
    });
  }

  it('an explicit --out naming an existing file is refused; neither file changes', async () => {
    const dir = tempDir('out');
    dirs.push(dir);
    const model = copyInto(dir, path.join(FIXTURES, 'generated/safetensors/mixed_dtypes.safetensors'));
    const taken = path.join(dir, 'taken.safetensors');
    writeFileSync(taken, 'precious');
    const r = await checkRun(dir, model, [{ method: 'quantize', options: { dtype: 'float16' } }], { out: taken });
    assert.equal(r.ok, false);
    assert.match(String((r.error as Error).message), /already exists/);
    assert.equal(readFileSync(taken, 'utf8'), 'precious');
    // The same output named after the model itself (overwriting the source) is refused too.
    const self = await checkRun(dir, model, [{ method: 'quantize', options: { dtype: 'float16' } }], { out: model });
    assert.equal(self.ok, false);
  });

  it('a run cancelled at any progress point leaves nothing', async () => {
    const dir = tempDir('cancel');
    dirs.push(dir);
    const model = writeTfjsMlp(path.join(dir, 'mlp'));
    const chain: CompressStep[] = [{ method: 'prune', options: { sparsity: 0.5 } }, { method: 'cluster', options: { clusters: 4 } }];
    let total = 0;
    await checkRun(dir, model, chain, { onProgress: () => total++ });
    assert.ok(total > 2, `progress is reported (${total} calls)`);
    let cancelledRuns = 0;
    for (let at = 0; at <= total; at++) {
      let calls = 0;
      const r = await checkRun(dir, model, chain, { onProgress: () => calls++, isCancelled: () => calls >= at });
      if (!r.ok) {
        assert.ok(isCancelled(r.error), String(r.error));
        cancelledRuns++;
      }
    }
    assert.ok(cancelledRuns >= total - 1, `cancelled at ${cancelledRuns} of ${total + 1} points`);
  });

  const diskFull = (failAt: number) => {
    let n = 0;
    atomicWriteHooks.beforeWrite = (final) => {
      if (n++ === failAt) throw Object.assign(new Error(`ENOSPC: no space left on device, write '${final}'`), { code: 'ENOSPC', errno: -28 });
    };
  };

  for (const source of sources) {
    it(`${source.format}: a full disk at the 1st, 2nd or 3rd write leaves no partial files and says "disk full" naming the file`, async () => {
      const dir = tempDir('enospc');
      dirs.push(dir);
      const model = source.make(dir);
      for (const failAt of [0, 1, 2]) {
        diskFull(failAt);
        const r = await checkRun(dir, model, [{ method: 'prune', options: { sparsity: 0.5, includeEnds: true } }]);
        delete atomicWriteHooks.beforeWrite;
        if (r.ok) continue; // fewer writes than failAt+1 (sidecar included): nothing to fail
        assert.ok(isOutputError(r.error), String(r.error));
        assert.equal(r.error.reason, 'disk-full');
        assert.match(r.error.message, /disk full/);
        assert.ok(r.error.message.includes(dir), `names the file: ${r.error.message}`);
      }
    });
  }

  it('the CLI reports a full disk in one clear line and exits non-zero', async () => {
    const dir = tempDir('enospc-cli');
    dirs.push(dir);
    const model = copyInto(dir, path.join(FIXTURES, 'generated/safetensors/mixed_dtypes.safetensors'));
    const before = snapshot(dir);
    diskFull(0);
    const r = await cli('compress', model, '--method', 'quantize', '--dtype', 'float16');
    assert.equal(r.code, 3);
    assert.match(r.stderr, /^parsimony: disk full while writing .*mixed_dtypes\.float16\.safetensors \(ENOSPC\); nothing was written\n$/);
    assert.doesNotMatch(r.stderr, /internal error/);
    assert.deepEqual(snapshot(dir), before);
  });

  it('two jobs on the same model at once write distinct outputs', async () => {
    const dir = tempDir('twice');
    dirs.push(dir);
    const model = copyInto(dir, path.join(FIXTURES, 'generated/safetensors/mixed_dtypes.safetensors'));
    const step: CompressStep[] = [{ method: 'quantize', options: { dtype: 'float16' } }];
    const results = await Promise.all([compressModel(model, step), compressModel(model, step), compressModel(model, step)]);
    const outputs = results.map((r) => path.basename(r.output)).sort();
    assert.deepEqual(outputs, ['mixed_dtypes.float16-2.safetensors', 'mixed_dtypes.float16-3.safetensors', 'mixed_dtypes.float16.safetensors']);
    assert.equal(new Set(results.map((r) => r.sidecar)).size, 3, 'each has its own sidecar');
    for (const r of results) assert.equal((await openModel(r.output)).format, 'safetensors');
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no lock or temp files remain');
    // tfjs: several files per output (model.json + shard) must not mix between the jobs.
    const tfjs = writeTfjsMlp(path.join(dir, 'mlp'));
    const two = await Promise.all([compressModel(tfjs, step), compressModel(tfjs, step)]);
    assert.notEqual(two[0]!.output, two[1]!.output);
    const shared = two[0]!.files.filter((f) => two[1]!.files.includes(f));
    assert.deepEqual(shared, [], 'no file belongs to both outputs');
    for (const r of two) assert.equal((await openModel(r.output)).format, 'tfjs-layers');
  });
});

// ---------------------------------------------------------------------------
// The CLI as a child process: kill -9 and SIGTERM at several points.

describe('nothing lost: killing the CLI mid-run', function () {
  this.timeout(240_000);
  let bundle: string;
  let buildDir: string;
  const dirs: string[] = [];

  before(async () => {
    // The CLI exactly as esbuild.mjs bundles it, into a private folder (dist/ is shared with other builds).
    buildDir = tempDir('cli');
    bundle = await bundleCli(buildDir);
  });
  after(() => {
    rmSync(buildDir, { recursive: true, force: true });
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** 12 tensors of 256×256: enough work that signals land mid-run. */
  function bigModel(dir: string, count = 12): string {
    const file = path.join(dir, 'big.safetensors');
    const tensors: Record<string, [number, number]> = {};
    for (let i = 0; i < count; i++) tensors[`layers.${i}.weight`] = [256, 256];
    writeSafetensors(file, tensors);
    return file;
  }

  interface Child {
    code: number | null;
    signal: NodeJS.Signals | null;
    stderr: string;
  }

  /** Spawns `parsimony compress`, calls `onLine(n)` for each progress line, resolves when it exits. */
  function runCli(args: string[], onProgress: (n: number, kill: (s: NodeJS.Signals) => void, pid: number) => void, env: NodeJS.ProcessEnv = {}): Promise<Child> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [bundle, ...args, '--progress-json'], {
        env: { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules'), ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      let lines = 0;
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        for (const line of d.split('\n')) if (line.startsWith('{')) onProgress(++lines, (s) => child.kill(s), child.pid!);
      });
      onProgress(0, (s) => child.kill(s), child.pid!);
      child.on('close', (code, signal) => resolve({ code, signal, stderr }));
    });
  }

  const outputsIn = (dir: string, model: string) => readdirSync(dir).filter((f) => f !== path.basename(model));

  it('kill -9 at several points: no output appears unless complete; leftovers are hidden temps a later run ignores and removes', async () => {
    const dir = tempDir('kill9');
    dirs.push(dir);
    const model = bigModel(dir);
    const hash = sha(model);
    const args = ['compress', model, '--method', 'cluster', '--clusters', '8', '--no-record'];
    for (const at of [0, 1, 3, 6, 10, 13]) {
      // One process (no huge-pages relaunch), so that SIGKILL really ends the job mid-write; the relaunched
      // process's own answer to its parent's SIGKILL is tested in hugePages.test.ts.
      const r = await runCli(args, (n, kill) => {
        if (n === at) setTimeout(() => kill('SIGKILL'), at === 0 ? 150 : 0);
      }, { PARSIMONY_HUGE_PAGES: '0' });
      const left = outputsIn(dir, model);
      if (r.code === 0) {
        // It finished before the signal: a complete, readable output and its sidecar.
        assert.deepEqual(left.filter((f) => !f.startsWith('.')).sort(), ['big.cluster-8.parsimony.json', 'big.cluster-8.safetensors']);
        assert.equal((await openModel(path.join(dir, 'big.cluster-8.safetensors'))).format, 'safetensors');
      } else {
        assert.equal(r.signal, 'SIGKILL');
        for (const f of left) {
          if (f === 'big.cluster-8.safetensors') {
            // Killed after the commit's rename: the output is complete (its sidecar may be missing).
            const doc = await openModel(path.join(dir, f));
            assert.equal(doc.layers.reduce((n, l) => n + l.tensors.length, 0), 12, 'a visible output is always complete');
            continue;
          }
          assert.ok(f.startsWith('.') && f.endsWith('.tmp'), `only hidden temporary files may remain after kill -9, found ${f}`);
          assert.ok(!looksLikeModelFile(f), `${f} is never taken for a model`);
        }
      }
      assert.equal(sha(model), hash, 'the original is untouched');
      // A later run ignores the leftovers (same output name, no "-2") and removes the dead run's temps.
      for (const f of outputsIn(dir, model)) if (!f.startsWith('.')) rmSync(path.join(dir, f));
      const again = await runCli(args, () => undefined);
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(outputsIn(dir, model).sort(), ['big.cluster-8.parsimony.json', 'big.cluster-8.safetensors']);
      for (const f of outputsIn(dir, model)) rmSync(path.join(dir, f));
    }
  });

  it('kill -9 of a CLI that relaunched itself for huge pages: the relaunched process stops by itself with nothing written', async function () {
    const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime;
    if (process.platform !== 'linux' || !glibc) this.skip();
    const dir = tempDir('orphan');
    dirs.push(dir);
    // 48 layers: seconds of work after the kill, so a process that carried on would write its output.
    const model = bigModel(dir, 48);
    const hash = sha(model);
    let relaunched: number[] = [];
    // Whatever the test runner was started with, this CLI relaunches itself.
    const env: NodeJS.ProcessEnv = { PARSIMONY_HUGE_PAGES: '', GLIBC_TUNABLES: '' };
    const r = await runCli(['compress', model, '--method', 'cluster', '--clusters', '8', '--no-record'], (n, kill, pid) => {
      if (n !== 2) return;
      relaunched = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      kill('SIGKILL');
    }, env);
    assert.equal(r.signal, 'SIGKILL');
    assert.equal(relaunched.length, 1, 'the CLI ran the job in one relaunched process');
    const gone = () => !existsSync(`/proc/${relaunched[0]}`) || /^State:\s+Z/m.test(readFileSync(`/proc/${relaunched[0]}/status`, 'utf8'));
    const t0 = Date.now();
    while (!gone() && Date.now() - t0 < 15_000) await new Promise((res) => setTimeout(res, 50));
    assert.ok(gone(), 'the relaunched process ends once the process that started it is killed');
    // It stopped after the step it was in: nothing written, not even a temporary file.
    assert.deepEqual(outputsIn(dir, model), []);
    assert.equal(sha(model), hash, 'the original is untouched');
  });

  it('SIGTERM at several points: exit 130 with nothing written, or a complete output', async () => {
    const dir = tempDir('term');
    dirs.push(dir);
    const model = bigModel(dir);
    const args = ['compress', model, '--method', 'prune,cluster', '--sparsity', '0.5', '--clusters', '8'];
    const seen: string[] = [];
    for (const at of [0, 1, 2, 5, 9, 14, 20, 26]) {
      const r = await runCli(args, (n, kill) => {
        if (n === at) setTimeout(() => kill('SIGTERM'), at === 0 ? 300 : 0);
      });
      const left = outputsIn(dir, model);
      if (r.code === 0) {
        seen.push(`${at}: finished`);
        // A finished run also records itself under .parsimony/runs.
        assert.deepEqual(left.sort(), ['.parsimony', 'big.prune-50.cluster-8.parsimony.json', 'big.prune-50.cluster-8.safetensors']);
        for (const f of left) rmSync(path.join(dir, f), { recursive: true });
      } else {
        seen.push(`${at}: ${r.code ?? r.signal}`);
        // Before the handlers are installed the default action kills it; either way nothing may remain.
        assert.ok(r.code === 130 || r.signal === 'SIGTERM', `exit ${r.code} ${r.signal}: ${r.stderr.slice(-300)}`);
        assert.deepEqual(left, [], 'a cancelled run leaves no file at all, not even a temporary one or a run record');
        if (r.code === 130) assert.match(r.stderr, /cancelled; nothing was written/);
      }
    }
    assert.ok(seen.some((s) => s.endsWith(': 130')), `at least one run was cancelled cleanly: ${seen.join(', ')}`);
  });

  it('a second SIGTERM exits at once and still removes the temporary files', async () => {
    const dir = tempDir('term2');
    dirs.push(dir);
    const model = bigModel(dir);
    const r = await runCli(['compress', model, '--method', 'cluster', '--clusters', '16', '--no-record'], (n, kill) => {
      if (n === 2) {
        kill('SIGTERM');
        setTimeout(() => kill('SIGTERM'), 20);
      }
    });
    if (r.code === 0) return; // finished first (very fast machine)
    // 130 from the handler, or the default action when the second signal lands while the process is already exiting.
    assert.ok(r.code === 130 || r.signal === 'SIGTERM', `exit ${r.code} ${r.signal}: ${r.stderr}`);
    assert.deepEqual(outputsIn(dir, model), []);
  });

  it('two CLI processes compressing the same model at once both succeed with distinct outputs', async () => {
    const dir = tempDir('two-cli');
    dirs.push(dir);
    const model = bigModel(dir);
    const args = ['compress', model, '--method', 'quantize', '--dtype', 'float16', '--no-record'];
    const [a, b] = await Promise.all([runCli(args, () => undefined), runCli(args, () => undefined)]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.deepEqual(outputsIn(dir, model).sort(), ['big.float16-2.parsimony.json', 'big.float16-2.safetensors', 'big.float16.parsimony.json', 'big.float16.safetensors']);
  });
});

// ---------------------------------------------------------------------------
// Big and changing workspaces.

const GB5 = 5 * 1024 ** 3;

describe('big and changing workspaces', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => {
    dir = tempDir('big');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a 5 GB sparse safetensors file is analyzed from its header without reading the data', async () => {
    const file = path.join(dir, 'huge.safetensors');
    const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
    const rows = 16384;
    const cols = 16384;
    const perTensor = rows * cols * 4; // 1 GiB
    for (let i = 0; i < 5; i++) header[`layers.${i}.weight`] = { dtype: 'F32', shape: [rows, cols], data_offsets: [i * perTensor, (i + 1) * perTensor] };
    const json = Buffer.from(JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    writeFileSync(file, Buffer.concat([len, json]));
    truncateSync(file, 8 + json.length + 5 * perTensor);
    assert.ok(statSync(file).size >= GB5);
    const fs = watchedAccess(nodeFileAccess);
    const t0 = Date.now();
    const doc = await openModel(file, { fs });
    const summary = await summarize(doc, fs);
    const ms = Date.now() - t0;
    assert.equal(summary.totalParams, 5 * rows * cols);
    assert.equal(summary.bytesOnDisk, statSync(file).size);
    assert.ok(fs.bytesRead < 64 * 1024, `read ${fs.bytesRead} bytes (header only)`);
    assert.ok(ms < 10_000, `took ${ms} ms`);
    const r = await cli('analyze', file, '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { totalParams: number }).totalParams, 5 * rows * cols);
  });

  it('a 5 GB sparse GGUF file is analyzed from its header without reading the data', async () => {
    const file = path.join(dir, 'huge.gguf');
    const parts: Buffer[] = [];
    const u32 = (n: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(n);
      return b;
    };
    const u64 = (n: number | bigint) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(BigInt(n));
      return b;
    };
    const str = (s: string) => Buffer.concat([u64(Buffer.byteLength(s)), Buffer.from(s)]);
    const tensors = 5;
    const ne0 = 32768;
    const ne1 = 8192; // 2^28 float32 elements = 1 GiB each
    parts.push(Buffer.from('GGUF'), u32(3), u64(tensors), u64(2));
    parts.push(str('general.architecture'), u32(8), str('llama'));
    parts.push(str('general.alignment'), u32(4), u32(32));
    for (let i = 0; i < tensors; i++) parts.push(str(`blk.${i}.ffn_up.weight`), u32(2), u64(ne0), u64(ne1), u32(0), u64(BigInt(i) * BigInt(ne0 * ne1 * 4)));
    let head = Buffer.concat(parts);
    head = Buffer.concat([head, Buffer.alloc((32 - (head.length % 32)) % 32)]);
    writeFileSync(file, head);
    truncateSync(file, head.length + tensors * ne0 * ne1 * 4);
    assert.ok(statSync(file).size >= GB5);
    const fs = watchedAccess(nodeFileAccess);
    const t0 = Date.now();
    const doc = await openModel(file, { fs });
    const summary = await summarize(doc, fs);
    assert.equal(summary.totalParams, tensors * ne0 * ne1);
    assert.ok(fs.bytesRead <= 2 * 1024 * 1024, `read ${fs.bytesRead} bytes (the header window only)`);
    assert.ok(Date.now() - t0 < 10_000);
  });

  const changing: { name: string; make: (d: string) => string; victim?: (model: string) => string }[] = [
    { name: 'safetensors', make: (d) => copyInto(d, path.join(FIXTURES, 'generated/safetensors/mixed_dtypes.safetensors')) },
    {
      name: 'safetensors shard of an index',
      make: (d) => path.join(copyInto(d, path.join(FIXTURES, 'generated/safetensors/sharded')), 'model.safetensors.index.json'),
      victim: (m) => path.join(path.dirname(m), 'model-00002-of-00002.safetensors'),
    },
    { name: 'tfjs model.json', make: (d) => writeTfjsMlp(path.join(d, 'mlp')) },
    { name: 'tfjs shard', make: (d) => writeTfjsMlp(path.join(d, 'mlp')), victim: (m) => path.join(path.dirname(m), 'group1-shard1of1.bin') },
    { name: 'onnx', make: (d) => copyInto(d, path.join(FIXTURES, 'generated/onnx/cnn.onnx')) },
    { name: 'onnx external data', make: (d) => path.join(copyInto(d, path.join(FIXTURES, 'generated/onnx/external')), 'model.onnx'), victim: (m) => path.join(path.dirname(m), 'weights.bin') },
    { name: 'gguf', make: (d) => copyInto(d, path.join(FIXTURES, 'generated/gguf/tiny-llama.gguf')) },
    { name: 'tflite', make: (d) => copyInto(d, path.join(FIXTURES, 'generated/tflite/conv_fc_int8_custom.tflite')) },
    { name: 'pytorch', make: (d) => copyInto(d, path.join(FIXTURES, 'generated/pytorch/mixed_dtypes.pth')) },
    { name: 'keras .h5', make: (d) => copyInto(d, path.join(FIXTURES, 'generated/keras/keras2_mlp.h5')) },
    { name: 'keras .keras', make: (d) => copyInto(d, path.join(FIXTURES, 'generated/keras/keras3_cnn_bn.keras')) },
  ];

  const actions: [string, (file: string) => void][] = [
    ['deleted', (f) => unlinkSync(f)],
    ['truncated to half', (f) => truncateSync(f, Math.floor(statSync(f).size / 2))],
    ['emptied', (f) => truncateSync(f, 0)],
    [
      'rewritten with other bytes',
      (f) => {
        const size = statSync(f).size;
        const fd = openSync(f, 'r+');
        const junk = Buffer.alloc(size, 0xa5);
        writeSync(fd, junk, 0, size, 0);
        closeSync(fd);
      },
    ],
    [
      'replaced by a different file',
      (f) => {
        unlinkSync(f);
        writeFileSync(f, Buffer.from('{"not": "the same model"}'));
      },
    ],
  ];

  for (const c of changing) {
    it(`${c.name} deleted, truncated or rewritten during analysis → a sound model or a clean ModelFormatError`, async () => {
      const base = mkdtempSync(path.join(dir, 'chg-'));
      // How many reads a clean analysis makes.
      const clean = watchedAccess(nodeFileAccess);
      const probe = c.make(path.join(base, 'probe'));
      await summarize(await openModel(probe, { fs: clean }), clean);
      const reads = Math.max(1, clean.reads);
      const outcomes = new Map<string, number>();
      let k = 0;
      for (const [label, act] of actions) {
        for (const n of new Set([1, 2, Math.ceil(reads / 2), reads])) {
          const model = c.make(path.join(base, `case-${k++}`));
          const victim = c.victim ? c.victim(model) : model;
          const fs = watchedAccess(nodeFileAccess, (i) => {
            if (i === n) act(victim);
          });
          try {
            const doc = await openModel(model, { fs });
            const s = await summarize(doc, fs);
            assert.ok(Number.isFinite(s.totalParams) && s.totalParams >= 0);
            outcomes.set('read whole', (outcomes.get('read whole') ?? 0) + 1);
          } catch (e) {
            assert.ok(isModelFormatError(e), `${label} after read ${n}: expected a ModelFormatError, got ${String(e)}\n${(e as Error).stack}`);
            assert.doesNotMatch(e.message, /^could not be read \(/, `${label} after read ${n}: a reader exception was masked: ${e.message}`);
            outcomes.set(e.code, (outcomes.get(e.code) ?? 0) + 1);
          }
        }
      }
      assert.ok(outcomes.size > 0);
    });
  }
});

// Keep the helpers honest about what counts as a temp file.
describe('temporary file names', () => {
  it('temporaries of unfinished writes are removed by removeOwnedFilesSync (what a second Ctrl-C and exit run)', async () => {
    const dir = tempDir('owned');
    try {
      const set = new AtomicFileSet();
      await set.write(path.join(dir, 'model.float16.safetensors'), 'partial');
      assert.equal(readdirSync(dir).filter((f) => TEMP_PATTERN.test(f)).length, 1);
      removeOwnedFilesSync();
      assert.deepEqual(readdirSync(dir), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('are hidden, end in .tmp, carry the pid, and are never taken for models', () => {
    const name = `.model.float16.safetensors.${process.pid}-0a1b2c3d.tmp`;
    assert.match(name, TEMP_PATTERN);
    assert.equal(looksLikeModelFile(name), false);
    assert.equal(looksLikeModelFile('.model.json.lock.tmp'), false);
    assert.equal(existsSync(path.join(os.tmpdir(), name)), false);
  });
});
