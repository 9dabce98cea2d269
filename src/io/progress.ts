/**
 * Loading progress, one event type for every phase. Downloads report bytes per file
 * (`file`, `loaded`, `total`); uploads into the backend report weight bytes for the whole
 * model; a `warning` says something the caller may want to show (a server without range
 * support, a model read whole into memory).
 */
export interface LoadProgress {
  readonly phase: "config" | "tokenizer" | "download" | "weights" | "ready" | "warning";
  /** The file (URL, path or name) a download event is about. */
  readonly file?: string;
  /** Bytes done, and in all when known. */
  readonly loaded?: number;
  readonly total?: number;
  /** A warning's text. */
  readonly message?: string;
}

export type ProgressListener = (progress: LoadProgress) => void;
