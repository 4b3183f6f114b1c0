/** Messages between the fuzz pool and its worker threads. */
export interface CaseRequest {
  id: number;
  file: string;
  /** Read values of at most this many tensors… */
  maxReads: number;
  /** …each with at most this many elements. */
  maxReadElements: number;
}

export type OutcomeKind =
  /** A sound ModelDoc. */
  | 'ok'
  /** A ModelFormatError with a known code. */
  | 'error'
  /** Any other exception (or a reader exception the registry masked). */
  | 'exception'
  /** A ModelDoc or error that breaks the contract (NaN counts, locations past the end, no code). */
  | 'invalid'
  | 'timeout'
  | 'oom'
  | 'memory'
  | 'exit';

export interface CaseOutcome {
  id: number;
  kind: OutcomeKind;
  phase?: 'open' | 'summarize' | 'validate' | 'read';
  code?: string;
  message?: string;
  stack?: string | undefined;
  ms: number;
  peakMb: number;
  layers?: number;
  format?: string;
  totalParams?: number;
}
