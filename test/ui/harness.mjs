// A small test registry for the UI tests (scripts/vscode/runUiTests.mjs runs them).
// Each test/ui/*.test.mjs calls test(name, fn); fn gets the shared context
//   { page, serverUrl, workspace, screenshot(name), log(...args) }
// where `page` is a Playwright page showing the workbench with Parsimony loaded
// (one workbench for the whole run; tests run in file order, then source order).

/** @type {{name: string, fn: (ctx: object) => Promise<void>, timeout: number, file?: string}[]} */
export const registered = [];

/**
 * Registers a UI test.
 * @param {string} name
 * @param {(ctx: {page: import('playwright-core').Page, serverUrl: string, workspace: string,
 *   screenshot: (name: string) => Promise<string>, log: (...a: unknown[]) => void}) => Promise<void>} fn
 * @param {{timeout?: number}} [options] default timeout 120 s
 */
export function test(name, fn, { timeout = 120_000 } = {}) {
  registered.push({ name, fn, timeout });
}
