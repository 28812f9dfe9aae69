/**
 * Every name the user manual's contract table promises (the `| what | name |` table under
 * "With the Temporal CLI") is exported from contract/, with the same value: scripts that
 * type these names break when one drifts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';
import * as contract from '../../contract';

const ROOT = path.join(__dirname, '..', '..');

/** The manual moves between README.md and docs/; the table is found wherever it is. */
function manualFiles(): string[] {
  const docs = path.join(ROOT, 'docs');
  const inDocs = fs.existsSync(docs)
    ? fs
        .readdirSync(docs, { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.md'))
        .map((f) => path.join(docs, f))
    : [];
  return [path.join(ROOT, 'README.md'), ...inDocs];
}

function contractTable(): { file: string; rows: [what: string, names: string][] } {
  for (const file of manualFiles()) {
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    const header = lines.findIndex((l) => /^\|\s*what\s*\|\s*name\s*\|\s*$/.test(l));
    if (header < 0) continue;
    const rows: [string, string][] = [];
    for (const line of lines.slice(header + 2)) {
      if (!line.startsWith('|')) break;
      // A cell may hold `a\|b`: split on bars that are not escaped.
      const cells = line
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((c) => c.trim());
      rows.push([cells[0], cells.slice(1).join('|')]);
    }
    return { file, rows };
  }
  throw new Error('no `| what | name |` table in README.md or docs/');
}

/**
 * The backticked names of a cell: `names` are things a script types (workflow types, IDs,
 * message names); `fields` are the keys and literal values of the messages' shapes (`{ ... }`
 * and prose in parentheses), which are checked against the contract's types.
 */
function namesIn(cell: string): { names: string[]; fields: string[] } {
  const names: string[] = [];
  const fields: string[] = [];
  let parens = 0;
  for (let i = 0; i < cell.length; i++) {
    const c = cell[i];
    if (c === '(') parens++;
    else if (c === ')') parens = Math.max(0, parens - 1);
    else if (c === '`') {
      const end = cell.indexOf('`', i + 1);
      const token = cell.slice(i + 1, end);
      i = end;
      if (token.startsWith('{')) fields.push(...[...token.matchAll(/"(\w+)"/g)].map((m) => m[1]));
      else (parens > 0 ? fields : names).push(token);
    }
  }
  return { names, fields };
}

/** Property names and string literal types declared anywhere in contract/: what a message's shape may hold. */
function contractFields(): Set<string> {
  const fields = new Set<string>();
  const dir = path.join(ROOT, 'contract');
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const sf = ts.createSourceFile(file, fs.readFileSync(path.join(dir, file), 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (ts.isPropertySignature(node) && ts.isIdentifier(node.name)) fields.add(node.name.text);
      if (ts.isLiteralTypeNode(node) && ts.isStringLiteral(node.literal)) fields.add(node.literal.text);
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return fields;
}

/** Every string value the contract exports, including the names inside signal, query, update and search attribute definitions. */
function exportedNames(): Set<string> {
  const names = new Set<string>();
  const visit = (v: unknown, depth: number): void => {
    if (typeof v === 'string') names.add(v);
    else if (Array.isArray(v)) v.forEach((x) => visit(x, depth + 1));
    else if (v && typeof v === 'object' && depth < 3) Object.values(v).forEach((x) => visit(x, depth + 1));
  };
  for (const v of Object.values(contract)) visit(v, 0);
  return names;
}

/** `nightshift-<YYYY-MM-DD>`: some exported ID function, given each placeholder, writes exactly this. */
function idFunctionFor(pattern: string): string | undefined {
  const placeholders = [...pattern.matchAll(/<([^>]+)>/g)].map((m) => `‹${m[1]}›`);
  const expected = pattern.replace(/<([^>]+)>/g, '‹$1›');
  for (const [name, v] of Object.entries(contract)) {
    if (typeof v !== 'function' || v.length !== placeholders.length) continue;
    try {
      if ((v as (...a: string[]) => unknown)(...placeholders) === expected) return name;
    } catch {
      // Not an ID function (e.g. one that parses its argument).
    }
  }
  return undefined;
}

test('every name in the contract table is exported from contract/', () => {
  const { file, rows } = contractTable();
  const exported = exportedNames();
  const declared = contractFields();
  const missing: string[] = [];
  let names = 0;
  let fields = 0;
  for (const [what, cell] of rows) {
    const found = namesIn(cell);
    for (const name of found.names) {
      names++;
      if (!(name.includes('<') ? idFunctionFor(name) !== undefined : exported.has(name)))
        missing.push(`${what}: ${name}`);
    }
    for (const field of found.fields) {
      fields++;
      if (!declared.has(field)) missing.push(`${what}: field ${field}`);
    }
  }
  assert.deepEqual(missing, [], `${path.relative(ROOT, file)} names what contract/ does not export`);
  // The table lists the six workflow types, their IDs, the messages and their shapes: a parser that found nothing would pass vacuously.
  assert.ok(names >= 25 && fields >= 25, `only ${names} names and ${fields} fields read from the table`);
});

test('every workflow type is in the contract table', () => {
  const { rows } = contractTable();
  const inTable = new Set(rows.flatMap(([, cell]) => namesIn(cell).names));
  assert.deepEqual(
    contract.WORKFLOW_TYPES.filter((t) => !inTable.has(t)),
    [],
  );
});

test('the table reader tells names from the fields of shapes', () => {
  assert.deepEqual(namesIn('signal `answer` `{ "text", "by"? }` (exactly one of `tasksFile`, `spec`)'), {
    names: ['answer'],
    fields: ['text', 'by', 'tasksFile', 'spec'],
  });
  assert.ok(!contractFields().has('tasksFiles'));
});

test('an ID pattern is matched only by the function that writes it', () => {
  assert.equal(idFunctionFor('nightshift-ledger-<YYYY-MM-DD>'), 'ledgerWorkflowId');
  assert.equal(idFunctionFor('<batchId>/<taskId>'), 'taskWorkflowId');
  assert.equal(idFunctionFor('nightshift-nightly-<YYYY-MM-DD>'), undefined);
});
