/**
 * The skills store (seed 000): `skills/<name>.md` written by people, `skills/learned/`
 * for patterns extracted with high confidence after a task succeeded, `skills/pending/`
 * for low-confidence ones a person approves or rejects. `skills_required: [name]` puts a
 * skill in the prompt: the hand-written file first, else the learned one.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export const SKILL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export type SkillStatus = 'skill' | 'learned' | 'pending';

export interface SkillMeta {
  name: string;
  status: SkillStatus;
  /** 0..1, for extracted skills. */
  confidence?: number;
  /** The task workflow it was learned from. */
  source?: string;
  date?: string;
  file: string;
}

const DIRS: Record<SkillStatus, string[]> = { skill: ['skills'], learned: ['skills', 'learned'], pending: ['skills', 'pending'] };

export function skillFile(root: string, status: SkillStatus, name: string): string {
  if (!SKILL_NAME.test(name)) throw new Error(`invalid skill name "${name}": letters, digits, ".", "_", "-"`);
  return path.join(root, ...DIRS[status], `${name}.md`);
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
  return `---\n${Object.entries(fields).map(([k, v]) => `${k}: ${String(v).replace(/\n/g, ' ')}`).join('\n')}\n---\n${body.trim()}\n`;
}

async function read(file: string): Promise<string | undefined> {
  return fs.readFile(file, 'utf8').catch(() => undefined);
}

/** The skill text an agent's prompt gets (front matter removed), or undefined. */
export async function readSkill(root: string, name: string): Promise<string | undefined> {
  if (!SKILL_NAME.test(name)) return undefined;
  for (const status of ['skill', 'learned'] as const) {
    const text = await read(skillFile(root, status, name));
    if (text !== undefined) return parseFrontMatter(text).body;
  }
  return undefined;
}

export async function listSkills(root: string): Promise<SkillMeta[]> {
  const out: SkillMeta[] = [];
  for (const status of ['skill', 'learned', 'pending'] as const) {
    const dir = path.join(root, ...DIRS[status]);
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    for (const n of names.filter((f) => f.endsWith('.md')).sort()) {
      const file = path.join(dir, n);
      const { fields } = parseFrontMatter((await read(file)) ?? '');
      out.push({
        name: n.slice(0, -3),
        status,
        ...(fields.confidence ? { confidence: Number(fields.confidence) } : {}),
        ...(fields.source ? { source: fields.source } : {}),
        ...(fields.date ? { date: fields.date } : {}),
        file: path.relative(root, file),
      });
    }
  }
  return out;
}

export class SkillNotFound extends Error {}

/** The named skill; `status` picks one when a name exists in several places. */
export async function findSkill(root: string, name: string, status?: SkillStatus): Promise<{ meta: SkillMeta; text: string }> {
  const all = (await listSkills(root)).filter((s) => s.name === name && (!status || s.status === status));
  if (all.length === 0) throw new SkillNotFound(`no ${status ?? ''} skill "${name}"`.replace('  ', ' '));
  const meta = all[0];
  return { meta, text: (await read(path.join(root, meta.file)))! };
}

/** Pending → learned: from now on tasks that require it get it. */
export async function approveSkill(root: string, name: string): Promise<SkillMeta> {
  const { text } = await findSkill(root, name, 'pending');
  const { fields, body } = parseFrontMatter(text);
  const dest = skillFile(root, 'learned', name);
  await fs.mkdir(path.dirname(dest), { recursive: true });
  await fs.writeFile(dest, renderSkill({ ...fields, approved: new Date().toISOString().slice(0, 10) }, body));
  await fs.rm(skillFile(root, 'pending', name));
  return (await findSkill(root, name, 'learned')).meta;
}

export async function rejectSkill(root: string, name: string): Promise<void> {
  await findSkill(root, name, 'pending');
  await fs.rm(skillFile(root, 'pending', name));
}
