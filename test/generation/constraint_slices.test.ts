/**
 * The constraint engine's work on a large schema comes in bounded slices (so a server can
 * yield between them): the canonical walk that keys the schema cache reads an enum a slice
 * at a time, and sorting an enum's or an object's texts is a sliced merge sort with the
 * native sort's order.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import { ByteTable, sortedSteps } from "../../src/generation/constraints/byte_table.js";
import { schemaKeySteps } from "../../src/generation/constraints/json_schema.js";

/** Runs a sliced computation to the end; its value and how many slices it took. */
function run<T>(steps: Generator<void, T>): { value: T; slices: number } {
  for (let slices = 1; ; slices++) {
    const r = steps.next();
    if (r.done) return { value: r.value, slices };
  }
}

it("sortedSteps gives the native sort's order (code units, duplicates kept), in slices", () => {
  let seed = 7;
  const rand = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  const word = (): string =>
    Array.from({ length: 1 + rand(6) }, () => String.fromCharCode([0x61 + rand(3), 0xe9, 0xd83d, 0xde00, 0x7f, 0xff][rand(6)]!)).join("");
  for (const n of [0, 1, 2, 8191, 8192, 8193, 50_000]) {
    const texts = Array.from({ length: n }, word);
    const { value, slices } = run(sortedSteps(texts));
    assert.deepEqual(value, [...texts].sort(), `${n} texts`);
    if (n > 8192) assert.ok(slices > n / 8192, `${n} texts sorted in ${slices} slices`);
  }
});

it("ByteTable.set holds the table the constructor builds (sorted, without duplicates)", () => {
  const texts = Array.from({ length: 30_000 }, (_, i) => `"v${(i * 7919) % 20_000}"`);
  assert.deepEqual(run(ByteTable.set(texts)).value.entries, new ByteTable(texts).entries);
});

it("the schema-key walk reads a 100k-value enum at most a slice (2048 values) at a time", () => {
  const values = Array.from({ length: 100_000 }, (_, i) => `value-${i}`);
  let reads = 0;
  // Counts the enum's element reads between two slices.
  const counted = new Proxy(values, {
    get(target, key, receiver) {
      if (typeof key === "string" && /^\d+$/.test(key)) reads++;
      return Reflect.get(target, key, receiver);
    },
  });
  const steps = schemaKeySteps({ type: "object", properties: { v: { enum: counted } } }, "s");
  let most = 0;
  for (;;) {
    reads = 0;
    const r = steps.next();
    most = Math.max(most, reads);
    if (r.done) break;
  }
  assert.ok(most <= 2048, `at most ${most} values read in one slice`);
  // The key does not depend on how the walk is sliced: the plain array gives the same one.
  assert.equal(
    run(schemaKeySteps({ type: "object", properties: { v: { enum: counted } } }, "s")).value,
    run(schemaKeySteps({ properties: { v: { enum: values } }, type: "object" }, "s")).value,
  );
});
