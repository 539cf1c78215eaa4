// Module hooks that let Node run the TypeScript under bench/ directly (no build step, no output
// directory): `node --import ./bench/ts-register.mjs bench/faults/run.ts`. Types are only
// stripped here; `npm run typecheck` checks them. `resolve` and `load` are the hooks
// module.register() runs on its thread (Node 20); `resolveSync` and `loadSync` the same for
// module.registerHooks() (see ts-register.mjs).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const compilerOptions = {
  module: ts.ModuleKind.ESNext,
  target: ts.ScriptTarget.ES2022,
  verbatimModuleSyntax: true,
  inlineSourceMap: true,
};

// Sources import each other as `./x.js` (NodeNext style); the file on disk is `./x.ts`.
const tsSibling = (specifier, context) => context.parentURL?.endsWith('.ts') && /^\.{1,2}\/.*\.js$/.test(specifier);

export function resolveSync(specifier, context, nextResolve) {
  if (tsSibling(specifier, context)) {
    try {
      return nextResolve(specifier.replace(/\.js$/, '.ts'), context);
    } catch {
      return nextResolve(specifier, context);
    }
  }
  return nextResolve(specifier, context);
}

export async function resolve(specifier, context, nextResolve) {
  if (tsSibling(specifier, context)) {
    try {
      return await nextResolve(specifier.replace(/\.js$/, '.ts'), context);
    } catch {
      return nextResolve(specifier, context);
    }
  }
  return nextResolve(specifier, context);
}

export function loadSync(url, context, nextLoad) {
  if (!url.endsWith('.ts')) return nextLoad(url, context);
  const path = fileURLToPath(url);
  const { outputText } = ts.transpileModule(readFileSync(path, 'utf8'), { compilerOptions, fileName: path });
  return { format: 'module', source: outputText, shortCircuit: true };
}

export async function load(url, context, nextLoad) {
  return url.endsWith('.ts') ? loadSync(url, context, nextLoad) : nextLoad(url, context);
}
