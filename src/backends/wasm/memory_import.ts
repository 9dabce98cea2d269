/**
 * The kernels import one shared memory, which a browser grants only to cross-origin
 * isolated pages (Firefox and Safari refuse even to create one elsewhere). A single thread
 * needs no sharing, so for it the module's memory import is rewritten to an ordinary memory:
 * one flag byte in the import section (limits 0x03 "shared, with maximum" → 0x01 "with
 * maximum"), nothing else moves. The kernels use no atomic instructions, so the module
 * stays valid.
 */
import { UnsupportedError } from "../../errors.js";

const IMPORT_SECTION = 2;
/** Import kinds of the binary format. */
const ImportKind = { Func: 0, Table: 1, Memory: 2, Global: 3, Tag: 4 } as const;

/** A copy of `bytes` whose imported memory is not shared. */
export function unsharedMemoryImport(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  let p = 8; // magic + version
  const u32 = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = out[p++]!;
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result >>> 0;
      shift += 7;
    }
  };
  const skipLimits = (): number => {
    const at = p;
    const flags = out[p++]!;
    u32();
    if (flags & 1) u32();
    return at;
  };
  while (p < out.length) {
    const id = out[p++]!;
    const size = u32();
    const end = p + size;
    if (id !== IMPORT_SECTION) {
      p = end;
      continue;
    }
    const count = u32();
    for (let i = 0; i < count; i++) {
      const moduleName = u32();
      p += moduleName;
      const fieldName = u32();
      p += fieldName;
      const kind = out[p++]!;
      if (kind === ImportKind.Func || kind === ImportKind.Tag) {
        if (kind === ImportKind.Tag) p++;
        u32();
      } else if (kind === ImportKind.Table) {
        p++; // element type
        skipLimits();
      } else if (kind === ImportKind.Global) {
        p += 2; // value type, mutability
      } else if (kind === ImportKind.Memory) {
        const at = skipLimits();
        if (out[at] === 0x03) out[at] = 0x01;
        return out;
      } else {
        break;
      }
    }
    break;
  }
  throw new UnsupportedError("wasm backend: the kernel module imports no memory that could be made unshared");
}
