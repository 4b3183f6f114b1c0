import * as vscode from 'vscode';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
const ORDER: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** The "Parsimony" output channel with levels; errors log their stack. */
export class Log implements vscode.Disposable {
  private readonly channel = vscode.window.createOutputChannel('Parsimony');
  level: LogLevel = 'info';

  private write(level: LogLevel, message: string): void {
    if (ORDER[level] > ORDER[this.level]) return;
    const time = new Date().toISOString().slice(11, 23);
    this.channel.appendLine(`${time} [${level}] ${message}`);
  }

  error(message: string, e?: unknown): void {
    const stack = e instanceof Error && e.stack ? `\n${e.stack}` : e !== undefined ? `\n${String(e)}` : '';
    this.write('error', message + stack);
  }
  warn(message: string): void {
    this.write('warn', message);
  }
  info(message: string): void {
    this.write('info', message);
  }
  debug(message: string): void {
    this.write('debug', message);
  }
  show(): void {
    this.channel.show(true);
  }
  dispose(): void {
    this.channel.dispose();
  }
}
