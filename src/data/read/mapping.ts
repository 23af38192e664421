// User-given field mappings for datasets in none of the known shapes.
import type { Example, SourceRef } from '../types.ts';
import { alpacaExample, chatExample, completionExample, type Built } from './formats.ts';
import { describe, isRecordObject, reject } from './validate.ts';

/**
 * Where to find each field, as paths with dots and `[i]` indexes (`answers.text[0]`).
 * With `each`, one example is made per element of that array; the other paths are looked up in
 * the element first and then in the whole record (so a shared `context` can sit beside `qas`).
 * Unset fields default to their own names. `messages` makes chat examples (with `role` and
 * `content` naming the fields of one message), `prompt`/`completion` make completion examples,
 * anything else makes Alpaca-style examples.
 */
export interface FieldMapping {
  each?: string;
  instruction?: string;
  input?: string;
  output?: string;
  system?: string;
  prompt?: string;
  completion?: string;
  messages?: string;
  role?: string;
  content?: string;
}

type Segment = string | number;

const cache = new Map<string, Segment[]>();

export function parsePath(path: string): Segment[] {
  let segs = cache.get(path);
  if (!segs) {
    segs = [];
    for (const m of path.matchAll(/\[(\d+)\]|[^.[\]]+/g)) segs.push(m[1] !== undefined ? Number(m[1]) : m[0]);
    cache.set(path, segs);
  }
  return segs;
}

export function getPath(value: unknown, path: string): unknown {
  let v = value;
  for (const seg of parsePath(path)) {
    if (typeof seg === 'number') v = Array.isArray(v) ? v[seg] : undefined;
    else v = isRecordObject(v) ? v[seg] : undefined;
    if (v === undefined) return undefined;
  }
  return v;
}

export function mappingTarget(m: FieldMapping): 'chat' | 'completion' | 'alpaca' {
  if (m.messages !== undefined) return 'chat';
  if (m.prompt !== undefined || m.completion !== undefined) return 'completion';
  return 'alpaca';
}

export function convertMapped(value: unknown, source: SourceRef, m: FieldMapping): Built {
  if (!isRecordObject(value)) {
    return { examples: [], rejections: [reject(source, 'wrong-type', `record is ${describe(value)}, expected an object`)] };
  }
  const used = usedKeys(m);
  const meta: Record<string, unknown> = {};
  for (const k of Object.keys(value)) if (!used.has(k)) meta[k] = value[k];
  const hasMeta = Object.keys(meta).length > 0;

  if (m.each === undefined) return one((p) => getPath(value, p), source, m, hasMeta ? meta : undefined);

  const list = getPath(value, m.each);
  if (!Array.isArray(list)) {
    const r =
      list === undefined
        ? reject(source, 'missing-field', `field "${m.each}" is missing`, m.each)
        : reject(source, 'wrong-type', `field "${m.each}" is ${describe(list)}, expected an array`, m.each);
    return { examples: [], rejections: [r] };
  }
  if (list.length === 0) {
    return { examples: [], rejections: [reject(source, 'missing-field', `field "${m.each}" is an empty list`, m.each)] };
  }
  const out: Built = { examples: [], rejections: [] };
  list.forEach((el, i) => {
    const lookup = (p: string): unknown => {
      const v = getPath(el, p);
      return v === undefined ? getPath(value, p) : v;
    };
    const b = one(lookup, { ...source, sub: i }, m, hasMeta ? { ...meta } : undefined);
    out.examples.push(...b.examples);
    out.rejections.push(...b.rejections);
  });
  return out;
}

function one(
  get: (path: string) => unknown,
  source: SourceRef,
  m: FieldMapping,
  meta: Record<string, unknown> | undefined,
): Built {
  let r: Example | ReturnType<typeof reject>;
  switch (mappingTarget(m)) {
    case 'chat': {
      const field = m.messages ?? 'messages';
      r = chatExample(get(field), field, source, meta, {
        role: m.role ? [m.role] : ['role', 'from'],
        content: m.content ? [m.content] : ['content', 'value'],
        system: get(m.system ?? 'system'),
      });
      break;
    }
    case 'completion': {
      const p = m.prompt ?? 'prompt';
      const c = m.completion ?? 'completion';
      r = completionExample(get(p), get(c), { prompt: p, completion: c }, source, meta);
      break;
    }
    default: {
      const names = {
        instruction: m.instruction ?? 'instruction',
        input: m.input ?? 'input',
        output: m.output ?? 'output',
        system: m.system ?? 'system',
      };
      const f = { instruction: get(names.instruction), input: get(names.input), output: get(names.output), system: get(names.system) };
      r = alpacaExample(f, names, source, meta);
    }
  }
  return 'reason' in r ? { examples: [], rejections: [r] } : { examples: [r], rejections: [] };
}

/** Top-level keys a mapping reads, so the rest of the record can go to `meta`. */
function usedKeys(m: FieldMapping): Set<string> {
  const keys = new Set<string>();
  const target = mappingTarget(m);
  const paths =
    target === 'chat'
      ? [m.messages, m.system ?? 'system']
      : target === 'completion'
        ? [m.prompt ?? 'prompt', m.completion ?? 'completion']
        : [m.instruction ?? 'instruction', m.input ?? 'input', m.output ?? 'output', m.system ?? 'system'];
  for (const p of [m.each, ...paths]) {
    const first = p === undefined ? undefined : parsePath(p)[0];
    if (typeof first === 'string') keys.add(first);
  }
  return keys;
}
