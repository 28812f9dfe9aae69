/**
 * The manual stays true to the code: the task-file reference is what the schema renders
 * today, every schema key has a text to render, and every relative link in README.md and
 * docs/ names a file that exists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { renderTaskFileReference, TASK_FILE_REFERENCE, undescribedKeys } from '../../scripts/gen-taskfile-reference';

const ROOT = path.join(__dirname, '..', '..');

test('docs/task-file.md is what the schema renders today', () => {
  const committed = existsSync(TASK_FILE_REFERENCE) ? readFileSync(TASK_FILE_REFERENCE, 'utf8') : '';
  assert.ok(
    committed === renderTaskFileReference(),
    'docs/task-file.md is out of date with taskfile/schema.ts: run npm run docs:taskfile',
  );
});

test('every task-file key has a describe text', () => {
  assert.deepEqual(
    undescribedKeys(),
    [],
    'add a .describe() to these keys in taskfile/schema.ts, then run npm run docs:taskfile',
  );
});

/** Relative link targets in markdown: `[text](target)`, without a URL scheme or a pure #anchor. */
function relativeLinks(markdown: string): string[] {
  const links: string[] = [];
  for (const m of markdown.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = m[1];
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue;
    links.push(target.replace(/#.*$/, ''));
  }
  return links;
}

test('the link scanner finds relative links and skips URLs and anchors', () => {
  assert.deepEqual(relativeLinks('[a](docs/x.md#y) [b](https://e.org) [c](#z) [d](./y.md) [e](../README.md)'), [
    'docs/x.md',
    './y.md',
    '../README.md',
  ]);
});

test('every relative link in README.md and docs/ resolves to a file', () => {
  const pages = [
    'README.md',
    ...readdirSync(path.join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => path.join('docs', f)),
  ];
  assert.ok(pages.length > 5, `the manual's pages: ${pages.join(', ')}`);
  const broken: string[] = [];
  for (const page of pages) {
    for (const link of relativeLinks(readFileSync(path.join(ROOT, page), 'utf8'))) {
      if (!existsSync(path.join(ROOT, path.dirname(page), link))) broken.push(`${page}: ${link}`);
    }
  }
  assert.deepEqual(broken, [], 'links to files that do not exist');
});

/** Anchor links within and across pages: GitHub's heading slugs (lower case, punctuation dropped, spaces to -). */
function slugsOf(markdown: string): Set<string> {
  const slugs = new Set<string>();
  const outsideFences = markdown.replace(/^```[^]*?^```/gm, '');
  for (const m of outsideFences.matchAll(/^#{1,6} (.+)$/gm)) {
    slugs.add(
      m[1]
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replace(/ /g, '-'),
    );
  }
  return slugs;
}

test('heading slugs follow GitHub: lower case, punctuation dropped, spaces to hyphens', () => {
  const slugs = slugsOf(
    "# Folder mode\n## The `nightshift` CLI\n### Seed 000's modes, and more\n```\n# not a heading\n```\n",
  );
  assert.deepEqual([...slugs], ['folder-mode', 'the-nightshift-cli', 'seed-000s-modes-and-more']);
});

test('every #anchor in README.md and docs/ names a heading of its page', () => {
  const pages = [
    'README.md',
    ...readdirSync(path.join(ROOT, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => path.join('docs', f)),
  ];
  const broken: string[] = [];
  for (const page of pages) {
    const text = readFileSync(path.join(ROOT, page), 'utf8');
    for (const m of text.matchAll(/\]\(([^)\s#]*)#([^)\s]+)\)/g)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(m[1])) continue;
      const target = m[1] === '' ? page : path.join(path.dirname(page), m[1]);
      const full = path.join(ROOT, target);
      if (!existsSync(full) || !slugsOf(readFileSync(full, 'utf8')).has(m[2])) broken.push(`${page}: ${m[1]}#${m[2]}`);
    }
  }
  assert.deepEqual(broken, [], 'anchors that name no heading');
});
