/**
 * The skills store: `skills/<name>.md` written by people, in NIGHTSHIFT_ROOT;
 * learned skills, extracted with high confidence after a task succeeded, and pending ones
 * a person approves or rejects, in the state store (`learned-skills`, scopes `learned` and
 * `pending`), so every host and the CLI see the same ones. With the `file` store those are
 * still `skills/learned/` and `skills/pending/` (common/store/index.ts). `skills_required:
 * [name]` puts a skill in the prompt: the hand-written file first, else the learned one.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { StateStore } from '../../common/store';

export const SKILL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export type SkillStatus = 'skill' | 'learned' | 'pending';
export type StoredSkillStatus = Exclude<SkillStatus, 'skill'>;

export interface SkillMeta {
  name: string;
  status: SkillStatus;
  /** 0..1, for extracted skills. */
  confidence?: number;
  /** The task workflow it was learned from. */
  source?: string;
  date?: string;
  /** Its path under NIGHTSHIFT_ROOT (learned and pending ones: with the `file` store; elsewhere the name they have in the store). */
  file: string;
}

/** Where the skills are: hand-written ones under `root`, the others in `store`. */
export interface SkillShelf {
  root: string;
  store: StateStore;
}

function checkName(name: string): void {
  if (!SKILL_NAME.test(name)) throw new Error(`invalid skill name "${name}": letters, digits, ".", "_", "-"`);
}

const skillKey = (name: string) => `${name}.md`;

/** The path a skill has under the root (`skills/learned/<name>.md`), which is where the `file` store keeps it. */
export function skillPath(status: SkillStatus, name: string): string {
  checkName(name);
  return path.join('skills', ...(status === 'skill' ? [] : [status]), skillKey(name));
}

/** `---\nkey: value\n---\nbody` → fields and body; files without front matter are all body. */
export function parseFrontMatter(text: string): { fields: Record<string, string>; body: string } {
  const m = /^---\n([\s\S]*?)\n---\n?/.exec(text);
  if (!m) return { fields: {}, body: text };
  const fields: Record<string, string> = {};
  for (const line of m[1].split('\n')) {
    const kv = /^([A-Za-z_]+):\s*(.*)$/.exec(line);
    if (kv) fields[kv[1]] = kv[2].trim();
  }
  return { fields, body: text.slice(m[0].length) };
}

export function renderSkill(fields: Record<string, string | number>, body: string): string {
  return `---\n${Object.entries(fields)
    .map(([k, v]) => `${k}: ${String(v).replace(/\n/g, ' ')}`)
    .join('\n')}\n---\n${body.trim()}\n`;
}

async function readHandWritten(root: string, name: string): Promise<string | undefined> {
  return fs.readFile(path.join(root, skillPath('skill', name)), 'utf8').catch(() => undefined);
}

/** A learned or pending skill's whole text (front matter included), or undefined. */
export async function readStoredSkill(
  store: StateStore,
  status: StoredSkillStatus,
  name: string,
): Promise<string | undefined> {
  checkName(name);
  return store.get('learned-skills', status, skillKey(name));
}

/** Writes (or replaces) a learned or pending skill. */
export async function writeStoredSkill(
  store: StateStore,
  status: StoredSkillStatus,
  name: string,
  text: string,
): Promise<void> {
  checkName(name);
  await store.put('learned-skills', status, skillKey(name), text);
}

/** The skill text an agent's prompt gets (front matter removed), or undefined. */
export async function readSkill(shelf: SkillShelf, name: string): Promise<string | undefined> {
  if (!SKILL_NAME.test(name)) return undefined;
  const text = (await readHandWritten(shelf.root, name)) ?? (await readStoredSkill(shelf.store, 'learned', name));
  return text === undefined ? undefined : parseFrontMatter(text).body;
}

function metaOf(name: string, status: SkillStatus, text: string): SkillMeta {
  const { fields } = parseFrontMatter(text);
  return {
    name,
    status,
    ...(fields.confidence ? { confidence: Number(fields.confidence) } : {}),
    ...(fields.source ? { source: fields.source } : {}),
    ...(fields.date ? { date: fields.date } : {}),
    file: skillPath(status, name),
  };
}

export async function listSkills(shelf: SkillShelf): Promise<SkillMeta[]> {
  const out: SkillMeta[] = [];
  const handWritten = await fs.readdir(path.join(shelf.root, 'skills'), { withFileTypes: true }).catch(() => []);
  for (const e of handWritten
    .filter((f) => f.isFile() && f.name.endsWith('.md') && SKILL_NAME.test(f.name.slice(0, -3)))
    .sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const name = e.name.slice(0, -3);
    out.push(metaOf(name, 'skill', (await readHandWritten(shelf.root, name)) ?? ''));
  }
  for (const status of ['learned', 'pending'] as const) {
    for (const key of await shelf.store.list('learned-skills', status)) {
      const name = key.slice(0, -3);
      if (!key.endsWith('.md') || !SKILL_NAME.test(name)) continue;
      const text = await readStoredSkill(shelf.store, status, name);
      // Removed between the listing and the read (approved or rejected elsewhere).
      if (text !== undefined) out.push(metaOf(name, status, text));
    }
  }
  return out;
}

export class SkillNotFound extends Error {}

/** The named skill; `status` picks one when a name exists in several places (hand-written first, then learned, then pending). */
export async function findSkill(
  shelf: SkillShelf,
  name: string,
  status?: SkillStatus,
): Promise<{ meta: SkillMeta; text: string }> {
  if (SKILL_NAME.test(name)) {
    for (const s of status ? [status] : (['skill', 'learned', 'pending'] as const)) {
      const text =
        s === 'skill' ? await readHandWritten(shelf.root, name) : await readStoredSkill(shelf.store, s, name);
      if (text !== undefined) return { meta: metaOf(name, s, text), text };
    }
  }
  throw new SkillNotFound(`no ${status ?? ''} skill "${name}"`.replace('  ', ' '));
}

/**
 * Pending → learned: from now on tasks that require it get it. The learned copy is written
 * before the pending one is removed, so a crash between the two leaves the skill in both
 * places (approving again finishes it), never in neither.
 */
export async function approveSkill(shelf: SkillShelf, name: string): Promise<SkillMeta> {
  const { text } = await findSkill(shelf, name, 'pending');
  const { fields, body } = parseFrontMatter(text);
  const approved = renderSkill({ ...fields, approved: new Date().toISOString().slice(0, 10) }, body);
  await writeStoredSkill(shelf.store, 'learned', name, approved);
  await shelf.store.delete('learned-skills', 'pending', skillKey(name));
  return metaOf(name, 'learned', approved);
}

export async function rejectSkill(shelf: SkillShelf, name: string): Promise<void> {
  await findSkill(shelf, name, 'pending');
  await shelf.store.delete('learned-skills', 'pending', skillKey(name));
}
