/**
 * Maps a field path (["tasks", 2, "depends_on"]) back to a line of the YAML source, and
 * finds the keys a schema knows at a path (for a did-you-mean on a misspelt one).
 */
import { isMap, isScalar, LineCounter, type Document, type Node } from 'yaml';
import type { z } from 'zod';

export type FieldPath = readonly PropertyKey[];

/** `tasks[2].agent_config.model` */
export function formatPath(path: FieldPath): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}

/**
 * The line of the deepest node that exists along `path`; with `keyLine`, the line of the
 * last key itself (where an unknown key is written) rather than its value.
 */
export function lineOf(doc: Document, counter: LineCounter, path: FieldPath, keyLine = false): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const parentPath = path.slice(0, depth - 1);
    const last = path[depth - 1];
    if (keyLine && depth === path.length && depth > 0) {
      const parent = parentPath.length ? doc.getIn(parentPath as unknown[], true) : doc.contents;
      if (isMap(parent)) {
        const pair = parent.items.find((it) => isScalar(it.key) && it.key.value === last);
        const range = (pair?.key as Node | undefined)?.range;
        if (range) return counter.linePos(range[0]).line;
      }
    }
    const node = (depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth) as unknown[], true)) as Node | null;
    if (node?.range) return counter.linePos(node.range[0]).line;
  }
  return undefined;
}

type AnySchema = z.core.$ZodType;

/** Descends a zod schema along a data path, through optional/default/union/pipe wrappers, to find an object's keys. */
export function knownKeysAt(schema: AnySchema, path: FieldPath): string[] {
  const objects = schemasAt(schema, path).filter((s) => s._zod.def.type === 'object');
  return [...new Set(objects.flatMap((s) => Object.keys((s._zod.def as unknown as { shape: object }).shape)))];
}

function schemasAt(schema: AnySchema, path: FieldPath): AnySchema[] {
  const def = schema._zod.def as unknown as Record<string, unknown> & { type: string };
  switch (def.type) {
    case 'optional':
    case 'default':
    case 'nullable':
    case 'prefault':
      return schemasAt(def.innerType as AnySchema, path);
    case 'pipe':
      return schemasAt(def.in as AnySchema, path);
    case 'union':
      return (def.options as AnySchema[]).flatMap((o) => schemasAt(o, path));
  }
  if (path.length === 0) return [schema];
  const [head, ...rest] = path;
  if (def.type === 'object') {
    const child = (def.shape as Record<string, AnySchema>)[String(head)];
    return child ? schemasAt(child, rest) : [];
  }
  if (def.type === 'array') return schemasAt(def.element as AnySchema, rest);
  return [];
}
