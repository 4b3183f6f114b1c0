import type * as vscode from 'vscode';

/**
 * Compression, evaluation, hints, the Lab and comparisons run in a CLI child
 * process that reads and writes files on this disk, and write their outputs
 * next to the model. For a model on a virtual or remote file system they are
 * refused with this message, rather than writing half a result through
 * workspace.fs: analysis (tree, hovers, Analyze Model) works there.
 */
export class LocalFileRequiredError extends Error {
  constructor(
    readonly uri: vscode.Uri,
    action: string,
  ) {
    super(
      `${action} needs a model on the local disk: ${uri.toString(true)} is on the '${uri.scheme}' file system. ` +
        'Parsimony only analyzes models there; copy the model into a local folder to compress or evaluate it.',
    );
    this.name = 'LocalFileRequiredError';
  }
}

export function requireLocalFile(uri: vscode.Uri, action: string): void {
  if (uri.scheme !== 'file') throw new LocalFileRequiredError(uri, action);
}
