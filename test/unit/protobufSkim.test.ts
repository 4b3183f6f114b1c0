/**
 * protobufSkim loads a protobuf without the payloads its parser only measures.
 * The parse over the skimmed runs must be indistinguishable from the parse over
 * the whole file: the same records for good files, the same ModelFormatError
 * (code, message, offset) for bad ones, and never a read of a skipped byte
 * (ProtoBuffer throws a plain Error for that, which fails these tests).
 */
import * as assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { makeCase } from '../../scripts/fuzz/generate';
import { ModelFormatError } from '../../src/core/errors';
import { ONNX_SKIM_SCHEMA, parseModel } from '../../src/core/formats/onnx/proto';
import { openModel } from '../../src/core/formats/registry';
import { nodeFileAccess, type ByteSource } from '../../src/core/io/fileAccess';
import { ProtoBuffer } from '../../src/core/io/protobuf';
import { skimProtobuf, type SkimOptions } from '../../src/core/io/protobufSkim';
import { ProtoWriter } from '../../src/core/io/protobufWriter';
import { watchedAccess } from '../helpers/watchedAccess';

const FIXTURES = path.resolve(__dirname, '../fixtures');

/** A ByteSource over bytes in memory that counts what it hands out; `sync` offers readIntoSync. */
function memorySource(bytes: Uint8Array, sync: boolean): ByteSource & { bytesRead: number } {
  const check = (offset: number, length: number): void => {
    if (offset < 0 || length < 0 || offset + length > bytes.length) throw new Error(`read past the end: ${offset}+${length}`);
  };
  const source = {
    path: 'memory.onnx',
    size: bytes.length,
    bytesRead: 0,
    async read(offset: number, length: number) {
      check(offset, length);
      source.bytesRead += length;
      return bytes.slice(offset, offset + length);
    },
    async readInto(offset: number, target: Uint8Array) {
      check(offset, target.length);
      source.bytesRead += target.length;
      target.set(bytes.subarray(offset, offset + target.length));
    },
    close: async () => undefined,
  };
  if (!sync) return source;
  return Object.assign(source, {
    readIntoSync(offset: number, target: Uint8Array) {
      check(offset, target.length);
      source.bytesRead += target.length;
      target.set(bytes.subarray(offset, offset + target.length));
    },
  });
}

/** The parse result as comparable text: the records, or the error the parser threw. */
function outcome(parse: () => unknown): string {
  try {
    return JSON.stringify(parse());
  } catch (e) {
    if (e instanceof ModelFormatError) return `ModelFormatError ${e.code} at ${e.offset}: ${e.message}`;
    throw e;
  }
}

const MAX_DEPTH = 200;

async function compare(bytes: Uint8Array, options: Partial<SkimOptions>, sync: boolean, label: string): Promise<void> {
  const whole = outcome(() => parseModel(new ProtoBuffer(bytes, { maxDepth: MAX_DEPTH }).root()));
  const { buffer } = await skimProtobuf(memorySource(bytes, sync), ONNX_SKIM_SCHEMA, { root: 'model', maxDepth: MAX_DEPTH, ...options });
  const skimmed = outcome(() => parseModel(buffer.root()));
  assert.equal(skimmed, whole, `${label}: the skimmed parse differs from the whole-file parse`);
}

function onnxFixtures(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const file = path.join(dir, name);
      if (statSync(file).isDirectory()) walk(file);
      else if (name.endsWith('.onnx')) out.push(file);
    }
  };
  walk(FIXTURES);
  return out.sort();
}

/** Tiny thresholds, so that every raw_data and every message is a candidate and windows end everywhere. */
const SETTINGS: { options: Partial<SkimOptions>; sync: boolean }[] = [
  { options: { skipBytes: 1, windowBytes: 1, maxWindowBytes: 1 }, sync: true },
  { options: { skipBytes: 2, windowBytes: 7, maxWindowBytes: 64, jumpBytes: 1 }, sync: false },
  { options: { skipBytes: 64, windowBytes: 16, jumpBytes: 256 }, sync: true },
  { options: {}, sync: false },
];

/**
 * An ONNX model whose graph starts with `reluNodes` small nodes (a run of small
 * messages, which grows the read window to its maximum) and then a chain of
 * `layers` MatMul nodes, each with a float32 [width, width] initializer.
 */
function wideMatMulChain(reluNodes: number, layers: number, width: number): Uint8Array {
  const FLOAT = 1;
  const graph = new ProtoWriter();
  let current = 'input';
  for (let i = 0; i < reluNodes; i++) {
    graph.message(1, new ProtoWriter().string(1, current).string(2, `relu${i}`).string(3, `relu_${i}`).string(4, 'Relu'));
    current = `relu${i}`;
  }
  for (let l = 0; l < layers; l++) {
    graph.message(1, new ProtoWriter().string(1, current).string(1, `w${l}`).string(2, `mm${l}`).string(3, `matmul_${l}`).string(4, 'MatMul'));
    current = `mm${l}`;
  }
  graph.string(2, 'chain');
  const values = new Uint8Array(width * width * 4);
  for (let i = 0; i < values.length; i++) values[i] = (i * 31 + 7) & 0xff;
  for (let l = 0; l < layers; l++) {
    graph.message(5, new ProtoWriter().repeatedVarint(1, [width, width]).varint(2, FLOAT).string(8, `w${l}`).bytes(9, values));
  }
  const valueInfo = (name: string): ProtoWriter => {
    const shape = new ProtoWriter().message(1, new ProtoWriter().string(2, 'N')).message(1, new ProtoWriter().varint(1, width));
    return new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, new ProtoWriter().varint(1, FLOAT).message(2, shape)));
  };
  graph.message(11, valueInfo('input'));
  graph.message(12, valueInfo(current));
  return new ProtoWriter().varint(1, 8).message(7, graph).message(8, new ProtoWriter().string(1, '').varint(2, 17)).finish();
}

describe('protobuf skim (loading a model without its tensor bytes)', function () {
  this.timeout(120_000);

  it('parses every ONNX fixture (clean, real, corrupt, past fuzz crashes) exactly as the whole file does', async () => {
    const files = onnxFixtures();
    assert.ok(files.length >= 20, `found ${files.length} ONNX fixtures`);
    for (const file of files) {
      const bytes = new Uint8Array(readFileSync(file));
      for (const { options, sync } of SETTINGS) await compare(bytes, options, sync, `${path.relative(FIXTURES, file)} ${JSON.stringify(options)}`);
    }
  });

  it('parses 400 fuzzed ONNX files exactly as the whole file does (same records or the same error)', async () => {
    let errors = 0;
    for (let index = 0; index < 400; index++) {
      const c = makeCase('onnx', 7, index);
      const bytes = c.files.get(c.main)!;
      const { options, sync } = SETTINGS[index % SETTINGS.length]!;
      await compare(bytes, options, sync, `fuzz case ${index} (${c.seedName}: ${c.mutations.join(' ; ')})`);
      if (outcome(() => parseModel(new ProtoBuffer(bytes, { maxDepth: MAX_DEPTH }).root())).startsWith('ModelFormatError')) errors++;
    }
    // The cases must exercise both outcomes for the comparison to mean something.
    assert.ok(errors > 20 && errors < 380, `${errors} of 400 fuzzed files fail to parse`);
  });

  it('leaves large raw_data on disk and reads the rest about once (lenet_torch.onnx)', async () => {
    const bytes = new Uint8Array(readFileSync(path.join(FIXTURES, 'generated/onnx/lenet_torch.onnx')));
    const whole = parseModel(new ProtoBuffer(bytes).root());
    const source = memorySource(bytes, true);
    const window = 256;
    const skim = await skimProtobuf(source, ONNX_SKIM_SCHEMA, { root: 'model', maxDepth: MAX_DEPTH, skipBytes: 1024, windowBytes: window, maxWindowBytes: window });
    assert.deepEqual(parseModel(skim.buffer.root()), whole);
    const large = whole.graph!.initializers.flatMap((t) => (t.data.kind === 'raw' && t.data.length >= 1024 ? [t.data.length] : []));
    assert.ok(large.length >= 3, 'lenet_torch.onnx has raw_data tensors of 1 KiB or more');
    assert.equal(skim.skippedBytes, large.reduce((a, b) => a + b, 0), 'exactly the large raw_data payloads were skipped');
    // Each read may run up to one window into a payload that is then skipped.
    assert.ok(source.bytesRead <= bytes.length - skim.skippedBytes + skim.reads * window, `${source.bytesRead} bytes read`);
    assert.ok(source.bytesRead < bytes.length * 0.1, `${source.bytesRead} of ${bytes.length} bytes read`);
  });

  it('reads a small fraction of models with large tensors after a long run of small nodes (openModel through a counting FileAccess)', async () => {
    // 30,000 small nodes (~1.3 MB) first: the window grows to its 1 MiB maximum
    // before the first tensor, which once made every later window read on
    // through the tensors (a 400 MB model of 256 KiB tensors was read whole).
    const dir = mkdtempSync(path.join(tmpdir(), 'parsimony-skim-'));
    try {
      for (const [width, layers] of [
        [256, 48], // 256 KiB tensors
        [512, 16], // 1 MiB
        [887, 6], // 3 MiB
      ] as const) {
        const file = path.join(dir, `chain${width}.onnx`);
        const bytes = wideMatMulChain(30_000, layers, width);
        writeFileSync(file, bytes);
        const fs = watchedAccess(nodeFileAccess);
        const doc = await openModel(file, { fs });
        const tensorBytes = width * width * 4;
        assert.equal(doc.layers.filter((l) => l.type === 'MatMul').length, layers);
        assert.ok(doc.layers.every((l) => l.tensors.every((t) => t.bytes === tensorBytes)));
        // The nodes (read whole, in windows of up to 1 MiB) and, per tensor, one small read past its header.
        const rest = bytes.length - layers * tensorBytes;
        const allowed = rest + (1 << 20) + layers * 16 * 1024;
        assert.ok(fs.bytesRead <= allowed, `${width}×${width} tensors: ${fs.bytesRead} bytes read, more than ${allowed}`);
        assert.ok(fs.bytesRead < bytes.length * 0.2, `${width}×${width} tensors: ${fs.bytesRead} of ${bytes.length} bytes read`);
        assert.ok(fs.reads <= 30 + layers * 2, `${width}×${width} tensors: ${fs.reads} reads`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads through runs of small tensors in few large reads, and reads no byte twice', async () => {
    // 4 KiB tensors: stepping over each would cost a read per tensor, and a read
    // costs as much as copying tens of KiB; reading on through them costs a few reads.
    const dir = mkdtempSync(path.join(tmpdir(), 'parsimony-skim-'));
    try {
      const file = path.join(dir, 'chain32.onnx');
      const bytes = wideMatMulChain(100, 2000, 32);
      writeFileSync(file, bytes);
      const fs = watchedAccess(nodeFileAccess);
      const doc = await openModel(file, { fs });
      assert.equal(doc.layers.filter((l) => l.type === 'MatMul').length, 2000);
      assert.ok(fs.bytesRead <= bytes.length + 4096, `${fs.bytesRead} bytes read of ${bytes.length}`);
      assert.ok(fs.reads <= 40, `${fs.reads} reads for ${bytes.length} bytes`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a skipped byte cannot be read by mistake: ProtoBuffer refuses it', () => {
    const buf = new ProtoBuffer(
      [
        { start: 0, bytes: new Uint8Array([0x0a, 0x05]) },
        { start: 7, bytes: new Uint8Array([0x10, 0x01]) },
      ],
      { length: 9 },
    );
    const fields = [...buf.root().fields()];
    assert.deepEqual(
      fields.map((f) => [f.field, f.start, f.end]),
      [
        [1, 2, 7],
        [2, 8, 9],
      ],
    );
    assert.throws(() => buf.root().string(fields[0]!), /skipped/);
    assert.equal(buf.root().int(fields[1]!), 1);
  });
});
