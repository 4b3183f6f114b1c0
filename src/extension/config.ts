import * as vscode from 'vscode';
import type { LogLevel } from './log';

/** Every setting is read here and nowhere else. */
export class Config {
  private get section(): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration('parsimony');
  }
  get exclude(): string[] {
    return this.section.get<string[]>('exclude', []);
  }
  get maxModels(): number {
    return this.section.get<number>('maxModels', 2000);
  }
  get hintsEpsilon(): number {
    return this.section.get<number>('hints.epsilon', 0.01);
  }
  get statusBarEnabled(): boolean {
    return this.section.get<boolean>('statusBar.enabled', true);
  }
  get hoverEnabled(): boolean {
    return this.section.get<boolean>('hover.enabled', true);
  }
  get sortBySize(): boolean {
    return this.section.get<boolean>('tree.sortBySize', false);
  }
  async setSortBySize(value: boolean): Promise<void> {
    await this.section.update('tree.sortBySize', value, vscode.ConfigurationTarget.Global);
  }
  get backend(): 'auto' | 'tensorflow' | 'wasm' | 'cpu' {
    return this.section.get('runtime.backend', 'auto');
  }
  /** Largest model file read into memory from a virtual or remote file system. */
  get virtualMaxSizeMB(): number {
    return this.section.get<number>('virtualFiles.maxSizeMB', 512);
  }
  get logLevel(): LogLevel {
    return this.section.get<LogLevel>('logLevel', 'info');
  }
}
