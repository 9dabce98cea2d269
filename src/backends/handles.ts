/**
 * The argument checks every backend that tracks its own handles makes on entry to an op: the
 * matrix, weight or K/V buffer was made by this backend, and has not been freed since; a row
 * count is a whole number within each matrix; a matrix has the columns the op needs. One place,
 * so that every backend's errors say the same thing in the same words.
 */
import { InvalidArgumentError } from "../errors.js";

/** A handle a backend marks `freed` in `free()`. */
export interface FreeableHandle {
  readonly freed: boolean;
}

/**
 * `x` as the backend's own handle class, or an error naming the argument (`what`), the kind
 * of handle ("matrix", "weight", "KV buffer") and the backend ("reference backend").
 */
export function ownHandle<T extends FreeableHandle>(
  x: unknown,
  cls: abstract new (...args: never[]) => T,
  kind: string,
  backend: string,
  what: string,
): T {
  if (!(x instanceof cls)) throw new InvalidArgumentError(`${what}: not a ${kind} of the ${backend}`);
  if (x.freed) throw new InvalidArgumentError(`${what}: ${kind} used after free`);
  return x;
}

/** `n` is a non-negative integer no larger than any of the matrices' row counts. */
export function checkRowCount(what: string, n: number, ...mats: readonly { readonly rows: number }[]): void {
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${what}: row count must be a non-negative integer, got ${n}`);
  for (const m of mats) if (n > m.rows) throw new InvalidArgumentError(`${what}: ${n} rows asked of a matrix with ${m.rows}`);
}

/** The matrix `m` (the op's `role` argument: "x", "out") has `cols` columns. */
export function checkCols(what: string, m: { readonly cols: number }, cols: number, role: string): void {
  if (m.cols !== cols) throw new InvalidArgumentError(`${what}: ${role} has ${m.cols} columns, expected ${cols}`);
}
