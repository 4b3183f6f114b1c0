// Helpers that drive VS Code's workbench DOM with Playwright, for the UI tests.
// They rely on the workbench's stable class names and ARIA attributes
// (.monaco-workbench, .pane-header, .monaco-list-row[aria-level]).

/**
 * Waits until the workbench has rendered its parts and applied the color theme
 * from the settings: the theme comes from a built-in extension, so until the
 * extensions are scanned the workbench shows its fallback light theme (the
 * .monaco-workbench element gets a `vscode-theme-…` class when it switches).
 */
export async function waitForWorkbench(page, { timeout = 120_000 } = {}) {
  await page.locator('.monaco-workbench').waitFor({ timeout });
  await page.locator('.part.activitybar, .part.sidebar').first().waitFor({ timeout });
  await page.locator('.part.statusbar').waitFor({ timeout });
  await page.locator('.monaco-workbench[class*="vscode-theme-"]').waitFor({ timeout });
}

/** Shows the Explorer view container (a no-op when it is already showing). */
export async function openExplorer(page, { timeout = 30_000 } = {}) {
  const title = page.locator('.part.sidebar .composite.title h2');
  if (/explorer/i.test((await title.textContent({ timeout: 2_000 }).catch(() => '')) ?? '')) return;
  await page.locator('.part.activitybar .action-item a[aria-label^="Explorer"], .part.activitybar .action-item [aria-label^="Explorer"]').first().click({ timeout });
  await page.locator('.part.sidebar .composite.title h2', { hasText: /explorer/i }).waitFor({ timeout });
}

/** The pane (view) whose header title is `title` in the side bar. */
export function viewPane(page, title) {
  const exact = new RegExp(`^\\s*${title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`, 'i');
  return page.locator('.part.sidebar .pane').filter({ has: page.locator('.pane-header h3.title', { hasText: exact }) });
}

/** Waits for the pane titled `title` and expands it if it is collapsed. */
export async function showView(page, title, { timeout = 60_000 } = {}) {
  const pane = viewPane(page, title);
  await pane.waitFor({ timeout });
  const header = pane.locator('.pane-header');
  if ((await header.getAttribute('aria-expanded')) === 'false') await header.click();
  await pane.locator('.pane-body').waitFor({ timeout });
  return pane;
}

/** Collapses the pane titled `title` (e.g. the folder explorer, to make room). */
export async function collapseView(page, title) {
  const header = viewPane(page, title).locator('.pane-header');
  if ((await header.count()) && (await header.getAttribute('aria-expanded')) === 'true') await header.click();
}

/** The tree rows of a pane; `level` 1 = top level. */
export function treeRows(pane, { level } = {}) {
  return pane.locator(level ? `.monaco-list-row[aria-level="${level}"]` : '.monaco-list-row');
}

/** The tree row whose label matches `label` (string: contains; RegExp: matches). */
export function treeRow(pane, label, { level } = {}) {
  return treeRows(pane, { level }).filter({ has: pane.page().locator('.label-name', { hasText: label }) });
}

/**
 * Expands a collapsed tree row and waits until it says it is expanded. The row
 * is looked up again on every try: a tree refresh re-renders rows.
 */
export async function expandRow(row, { timeout = 60_000 } = {}) {
  const deadline = Date.now() + timeout;
  let lastClick = 0;
  for (;;) {
    const expanded = await row.getAttribute('aria-expanded', { timeout: Math.max(1, deadline - Date.now()) });
    if (expanded === 'true') return;
    if (Date.now() > deadline) throw new Error(`tree row did not expand within ${timeout / 1000}s`);
    if (Date.now() - lastClick > 5_000) {
      await row.locator('.monaco-tl-twistie').click({ timeout: Math.max(1, deadline - Date.now()) });
      lastClick = Date.now();
    }
    await row.page().waitForTimeout(200);
  }
}

/** Each row as {label, description, level, expanded}. */
export async function readRows(rows) {
  return rows.evaluateAll((els) => els.map((el) => ({
    label: el.querySelector('.label-name')?.textContent?.trim() ?? '',
    description: el.querySelector('.label-description')?.textContent?.trim() ?? '',
    level: Number(el.getAttribute('aria-level')),
    expanded: el.getAttribute('aria-expanded'),
  })));
}

const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The quick input's row whose label is exactly `label` (a string) or matches it (a RegExp). */
function quickRow(page, label) {
  const exact = typeof label === 'string' ? new RegExp(`^\\s*${escapeRegExp(label)}\\s*$`) : label;
  return page.locator('.quick-input-widget .monaco-list-row').filter({ has: page.locator('.label-name', { hasText: exact }) }).first();
}

/**
 * Runs a command from the command palette by its label (e.g. "Parsimony: Refresh
 * Models"). Clicks the row with exactly that label: the first row is not always
 * it ("Preferences: Browse Color Themes in Marketplace" comes before
 * "Preferences: Color Theme").
 */
export async function runCommand(page, label, { timeout = 30_000 } = {}) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ timeout });
  await input.fill(`>${label}`);
  const item = quickRow(page, label);
  await item.waitFor({ timeout });
  await item.click();
}

/**
 * Waits for the quick pick that follows a command (`title`: its title, e.g.
 * "Parsimony: pick a model file"), types `filter` and clicks the row labelled
 * `item` (a string: exactly; a RegExp: matching).
 */
export async function pickQuickItem(page, { title, filter, item = filter, timeout = 30_000 }) {
  const widget = page.locator('.quick-input-widget');
  if (title) await widget.locator('.quick-input-title', { hasText: title }).waitFor({ timeout });
  const input = widget.locator('input').first();
  await input.waitFor({ timeout });
  await input.fill(filter);
  const row = quickRow(page, item);
  await row.waitFor({ timeout });
  await row.click();
  await widget.waitFor({ state: 'hidden', timeout });
}

/**
 * The frame (a webview's inner iframe, nested in VS Code's webview host frame)
 * that contains `selector`. Webview frames have no useful names, so every frame
 * is asked until one has it.
 */
export async function findFrame(page, selector, { timeout = 60_000 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    for (const frame of page.frames()) {
      if (frame.isDetached()) continue;
      const found = await frame.$(selector).then((h) => h !== null, () => false);
      if (found) return frame;
    }
    if (Date.now() > deadline) throw new Error(`no frame contains ${selector} after ${timeout / 1000}s`);
    await page.waitForTimeout(250);
  }
}

/**
 * Moves the keyboard focus to the workbench (the side bar's title). After a
 * click inside a webview the focus is in its iframe, and a quick pick opened
 * from there can close again as the webview takes the focus back.
 */
export async function focusWorkbench(page) {
  await page.locator('.part.sidebar .composite.title').click();
}

/** Switches the color theme with "Preferences: Color Theme", as a person would (`theme`: its settings id, e.g. "Default Light Modern"). */
export async function setColorTheme(page, theme, { timeout = 30_000 } = {}) {
  await focusWorkbench(page);
  await runCommand(page, 'Preferences: Color Theme', { timeout });
  // The picker shows "Light Modern" for the theme the setting calls "Default Light Modern".
  const shown = theme.replace(/^Default /, '');
  await pickQuickItem(page, { filter: shown, item: new RegExp(`^\\s*(Default )?${escapeRegExp(shown)}\\s*$`), timeout });
  const light = /light/i.test(theme);
  // The workbench carries `vs` (light) or `vs-dark` (dark) on its root element.
  await page.locator(light ? '.monaco-workbench.vs' : '.monaco-workbench.vs-dark').waitFor({ timeout });
}

/** Shows an output channel in the panel ("Output: Show Output Channels…") and returns the panel's text lines locator. */
export async function showOutputChannel(page, channel, { timeout = 30_000 } = {}) {
  await focusWorkbench(page);
  await runCommand(page, 'Output: Show Output Channels...', { timeout });
  await pickQuickItem(page, { filter: channel, item: channel, timeout });
  return page.locator('.part.panel .monaco-editor .view-lines');
}
