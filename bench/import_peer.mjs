// Imports an opt-in peer. This file stays in bench/ (it is not compiled into dist/) so that
// bare specifiers resolve from bench/node_modules first, with every `exports` condition Node
// applies to an import; bench/peers.ts is the only caller.
export const importFromBench = (specifier) => import(specifier);
