import * as assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? files(p) : /\.tsx?$/.test(name) ? [p] : [];
  });
}

const importRe = /(?:from\s+|import\s*\(\s*|require\(\s*)['"]([^'"]+)['"]/g;
function imports(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(importRe)].map((m) => m[1]!);
}

describe('module layering', () => {
  it('src/core never imports vscode or the extension/webview code', () => {
    for (const f of files('src/core')) {
      for (const spec of imports(f)) {
        assert.notEqual(spec, 'vscode', `${f} imports vscode`);
        assert.ok(!/\/(extension|webview|cli)\//.test(spec), `${f} imports ${spec}`);
      }
    }
  });

  it('src/cli never imports vscode or the extension', () => {
    for (const f of files('src/cli')) {
      for (const spec of imports(f)) {
        assert.notEqual(spec, 'vscode', `${f} imports vscode`);
        assert.ok(!/\/extension\//.test(spec), `${f} imports ${spec}`);
      }
    }
  });

  it('nothing outside src/extension imports vscode', () => {
    const offenders = ['src/core', 'src/cli']
      .flatMap(files)
      .filter((f) => imports(f).includes('vscode'));
    assert.deepEqual(offenders, []);
  });

  it('no module loads TF.js or onnxruntime at the top level of the extension', () => {
    for (const f of files('src/extension')) {
      const text = readFileSync(f, 'utf8');
      assert.doesNotMatch(text, /^import .*['"](@tensorflow\/|onnxruntime)/m, `${f} imports a heavy runtime at top level`);
    }
  });
});
