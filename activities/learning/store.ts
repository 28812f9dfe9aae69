/**
 * What the nights taught: ratings stored beside the results they rate
 * (`results/<date>.feedback.json`), and lessons from feedback Action lines, kept in
 * `.nightshift/learning/lessons.json` (with source and date) and rendered to
 * `.nightshift/lessons.md`, which every agent prompt includes. A removed lesson stays
 * removed when its feedback file is read again.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { stateDir } from '../../common/config';
import { parseFeedback, type Feedback } from './feedback';

export interface Lesson {
  id: string;
  text: string;
  /** The feedback file it came from, relative to the root. */
  source: string;
  task?: string;
  /** The night the feedback was about. */
  date: string;
  rating?: string;
  addedAt: string;
}

interface LessonsFile {
  lessons: Lesson[];
  /** Ids removed by a person: never added again. */
  removed: string[];
}

const learningDir = (root: string) => path.join(stateDir({ root }), 'learning');
const lessonsJson = (root: string) => path.join(learningDir(root), 'lessons.json');
export const lessonsMarkdown = (root: string) => path.join(stateDir({ root }), 'lessons.md');
export const feedbackResultsFile = (root: string, date: string) => path.join(root, 'results', `${date}.feedback.json`);

async function writeAtomic(file: string, text: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(`${file}.tmp`, text);
  await fs.rename(`${file}.tmp`, file);
}

async function readLessons(root: string): Promise<LessonsFile> {
  const text = await fs.readFile(lessonsJson(root), 'utf8').catch(() => undefined);
  return text ? (JSON.parse(text) as LessonsFile) : { lessons: [], removed: [] };
}

export function renderLessons(lessons: Lesson[]): string {
  return lessons.map((l) => `- ${l.text} (feedback ${l.date}${l.task ? `, ${l.task}${l.rating ? ` rated ${l.rating}` : ''}` : ''})`).join('\n') + (lessons.length ? '\n' : '');
}

async function saveLessons(root: string, f: LessonsFile): Promise<void> {
  await writeAtomic(lessonsJson(root), JSON.stringify(f, null, 2) + '\n');
  await writeAtomic(lessonsMarkdown(root), renderLessons(f.lessons));
}

export async function listLessons(root: string): Promise<Lesson[]> {
  return (await readLessons(root)).lessons;
}

export class LessonNotFound extends Error {}

export async function removeLesson(root: string, id: string): Promise<Lesson> {
  const f = await readLessons(root);
  const l = f.lessons.find((x) => x.id === id);
  if (!l) throw new LessonNotFound(`no lesson "${id}"; see nightshift lessons list`);
  await saveLessons(root, { lessons: f.lessons.filter((x) => x.id !== id), removed: [...f.removed, id] });
  return l;
}

const lessonId = (source: string, task: string | undefined, text: string) => createHash('sha256').update(`${source}\n${task ?? ''}\n${text}`).digest('hex').slice(0, 8);

export interface FeedbackImport {
  feedback: Feedback;
  /** Where the ratings were stored. */
  ratingsFile: string;
  added: Lesson[];
  /** Tasks the feedback names that the night's results do not have. */
  unknownTasks: string[];
}

/** Reads a feedback file and stores what it says. Reading the same file again changes nothing. */
export async function importFeedback(root: string, file: string): Promise<FeedbackImport> {
  const abs = path.resolve(root, file);
  const rel = path.relative(root, abs).startsWith('..') ? abs : path.relative(root, abs);
  const text = await fs.readFile(abs, 'utf8');
  const feedback = parseFeedback(text, rel);
  const date = feedback.date!;

  const results = await fs.readFile(path.join(root, 'results', `${date}.json`), 'utf8').then((t) => JSON.parse(t) as { results?: { task: string }[] }, () => undefined);
  const known = new Set(results?.results?.map((r) => r.task) ?? []);
  const unknownTasks = results ? feedback.tasks.map((t) => t.taskId).filter((id) => !known.has(id)) : [];

  const ratingsFile = feedbackResultsFile(root, date);
  await writeAtomic(ratingsFile, JSON.stringify({ date, source: rel, ...feedback, file: undefined }, null, 2) + '\n');

  const store = await readLessons(root);
  const added: Lesson[] = [];
  for (const t of feedback.tasks) {
    for (const action of t.actions) {
      const id = lessonId(rel, t.taskId, action);
      if (store.removed.includes(id) || store.lessons.some((l) => l.id === id)) continue;
      added.push({ id, text: action, source: rel, task: t.taskId, date, ...(t.rating !== undefined ? { rating: `${t.rating}/${t.outOf}` } : {}), addedAt: new Date().toISOString() });
    }
  }
  if (added.length || !(await fs.stat(lessonsMarkdown(root)).catch(() => undefined))) await saveLessons(root, { ...store, lessons: [...store.lessons, ...added] });
  return { feedback, ratingsFile: path.relative(root, ratingsFile), added, unknownTasks };
}

/** Every stored rating: `results/*.feedback.json`. */
export async function loadRatings(root: string): Promise<{ date: string; task: string; rating: number; outOf: number }[]> {
  const dir = path.join(root, 'results');
  const names = (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.feedback.json')).sort();
  const out: { date: string; task: string; rating: number; outOf: number }[] = [];
  for (const n of names) {
    const f = JSON.parse(await fs.readFile(path.join(dir, n), 'utf8')) as { date: string; tasks: { taskId: string; rating?: number; outOf?: number }[] };
    for (const t of f.tasks) if (t.rating !== undefined && t.outOf) out.push({ date: f.date, task: t.taskId, rating: t.rating, outOf: t.outOf });
  }
  return out;
}
