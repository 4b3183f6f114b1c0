/**
 * Errors raised for bad model files. Every reader throws ModelFormatError (or a
 * subclass) with a machine-readable code, so the CLI can exit 2 and the tree can
 * show one error row instead of crashing.
 */
export type ModelErrorCode =
  | 'truncated'
  | 'bad-magic'
  | 'unsupported-version'
  | 'unsupported-dtype'
  | 'not-a-model'
  | 'unsupported-format'
  | 'unsafe'
  | 'too-large'
  | 'not-found'
  | 'invalid-option';

export interface ModelErrorContext {
  file?: string;
  offset?: number;
  headHex?: string;
}

export class ModelFormatError extends Error {
  readonly code: ModelErrorCode;
  file: string | undefined;
  readonly offset: number | undefined;
  headHex: string | undefined;

  constructor(code: ModelErrorCode, message: string, context: ModelErrorContext = {}) {
    super(message);
    this.name = 'ModelFormatError';
    this.code = code;
    this.file = context.file;
    this.offset = context.offset;
    this.headHex = context.headHex;
  }

  /** One line for a user: "model.onnx: truncated: expected 400 more bytes at offset 12". */
  describe(): string {
    const where = this.file ? `${this.file}: ` : '';
    const at = this.offset !== undefined && !/offset/.test(this.message) ? ` (at byte ${this.offset})` : '';
    return `${where}${this.message}${at}`;
  }
}

export function isModelFormatError(e: unknown): e is ModelFormatError {
  return e instanceof ModelFormatError;
}

/**
 * Writing an output failed for a reason outside the model (disk full, no
 * permission, the name was taken meanwhile). The message names the file; the
 * writer has already removed its partial output.
 */
export class OutputError extends Error {
  constructor(
    readonly reason: 'disk-full' | 'no-permission' | 'exists' | 'io',
    message: string,
    readonly file: string,
  ) {
    super(message);
    this.name = 'OutputError';
  }
}

export function isOutputError(e: unknown): e is OutputError {
  return e instanceof OutputError;
}

/** Thrown when a job is cancelled; callers clean up partial outputs and stay quiet. */
export class CancelledError extends Error {
  constructor() {
    super('Cancelled');
    this.name = 'CancelledError';
  }
}

export function isCancelled(e: unknown): boolean {
  return e instanceof CancelledError;
}
