/**
 * Typed errors. Every error a user can cause names the file (or input), the field or
 * position, what was expected and what was found, so that it can be fixed without a
 * debugger.
 */

/** A file on disk is missing, unreadable or malformed. */
export class FormatError extends Error {
  override readonly name = "FormatError";
  constructor(
    /** The file (or folder) at fault. */
    readonly file: string,
    /** What is wrong, naming the field, tensor or byte offset. */
    readonly detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

/** A caller passed arguments that cannot be honoured (shapes, ranges, options). */
export class InvalidArgumentError extends Error {
  override readonly name = "InvalidArgumentError";
}

/** A model, file or option uses something this build does not implement yet. */
export class UnsupportedError extends Error {
  override readonly name = "UnsupportedError";
}
