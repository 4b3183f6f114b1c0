/**
 * Progress for long work: a bar redrawn on stderr when stderr is a terminal,
 * nothing otherwise (CI logs stay clean and stdout stays pure JSON).
 */
export interface ProgressReporter {
  report(fraction: number, message?: string): void;
  done(): void;
}

export const silentProgress: ProgressReporter = { report() {}, done() {} };

export function terminalProgress(stream: NodeJS.WriteStream): ProgressReporter {
  if (!stream.isTTY) return silentProgress;
  let last = '';
  return {
    report(fraction, message = '') {
      const width = 24;
      const f = Math.max(0, Math.min(1, fraction));
      const filled = Math.round(f * width);
      const line = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${(f * 100).toFixed(0).padStart(3)}% ${message}`;
      const cols = stream.columns ?? 80;
      const text = line.slice(0, cols - 1);
      if (text !== last) stream.write(`\r${text}\x1b[K`);
      last = text;
    },
    done() {
      if (last) stream.write('\r\x1b[K');
      last = '';
    },
  };
}

/** Machine-readable progress for a parent process (the VS Code extension): one JSON line per update on stderr. */
export function jsonLinesProgress(stream: NodeJS.WriteStream): ProgressReporter {
  let last = -1;
  return {
    report(fraction, message = '') {
      const pct = Math.round(Math.max(0, Math.min(1, fraction)) * 1000) / 10;
      if (pct === last) return;
      last = pct;
      stream.write(JSON.stringify({ progress: pct / 100, message }) + '\n');
    },
    done() {},
  };
}
