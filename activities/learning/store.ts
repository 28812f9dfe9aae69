/**
 * What the nights taught: ratings stored beside the results they rate
 * (`results/<date>.feedback.json`), and lessons from feedback Action lines, kept in the
 * state store (kind `lessons`, scope `list`), one record per lesson, so every worker host
 * prompts with them and `nightshift lessons` on any machine with the same NIGHTSHIFT_STORE
 * lists and removes them. A removed lesson leaves a marker behind, so it stays removed when
 * its feedback file is read again.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { stateDir } from '../../common/config';
import type { StateStore } from '../../common/store';
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
  /** Its place in its feedback file: lessons read in one go share `addedAt` and keep the file's order. Absent in older records. */
  order?: number;
}

/** A host's root (its feedback files and results) and the store its lessons are in. */
export interface LessonPlace {
  root: string;
  store: StateStore;
}

/** The list every prompt falls back to; nights `nightshift start` started carry its text by hash (activities/night/spec.ts). */
export const LESSON_LIST_SCOPE = 'list';
const lessonKey = (id: string) => `${id}.json`;
/** Written when a person removes the lesson: never added again. */
const removedKey = (id: string) => `${id}.removed`;

/** Where the lessons were before the store: `.nightshift/learning/lessons.json`, read once and moved in. */
const legacyLessonsJson = (root: string) => path.join(stateDir({ root }), 'learning', 'lessons.json');
export const feedbackResultsFile = (root: string, date: string) => path.join(root, 'results', `${date}.feedback.json`);

async function writeAtomic(file: string, text: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(`${file}.tmp`, text);
  await fs.rename(`${file}.tmp`, file);
}

/**
 * Moves an existing user's lessons file into the store: every lesson and removal
 * insert-if-absent (so running it twice, or on two hosts, is harmless), then renames the
 * file so it is not read again.
 */
async function migrateLegacyLessons({ root, store }: LessonPlace): Promise<void> {
  const file = legacyLessonsJson(root);
  const text = await fs.readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return;
  const legacy = JSON.parse(text) as { lessons?: Lesson[]; removed?: string[] };
  for (const id of legacy.removed ?? [])
    await store.putIfAbsent('lessons', LESSON_LIST_SCOPE, removedKey(id), new Date().toISOString());
  for (const l of legacy.lessons ?? [])
    await store.putIfAbsent('lessons', LESSON_LIST_SCOPE, lessonKey(l.id), JSON.stringify(l));
  await fs.rename(file, `${file}.migrated`);
}

export function renderLessons(lessons: Lesson[]): string {
  return (
    lessons
      .map(
        (l) => `- ${l.text} (feedback ${l.date}${l.task ? `, ${l.task}${l.rating ? ` rated ${l.rating}` : ''}` : ''})`,
      )
      .join('\n') + (lessons.length ? '\n' : '')
  );
}

/** Every lesson not removed, oldest first. */
export async function listLessons(place: LessonPlace): Promise<Lesson[]> {
  await migrateLegacyLessons(place);
  const keys = await place.store.list('lessons', LESSON_LIST_SCOPE);
  const removed = new Set(keys.filter((k) => k.endsWith('.removed')).map((k) => k.slice(0, -'.removed'.length)));
  const out: Lesson[] = [];
  for (const k of keys.filter((k) => k.endsWith('.json') && !removed.has(k.slice(0, -'.json'.length)))) {
    const text = await place.store.get('lessons', LESSON_LIST_SCOPE, k);
    if (text !== undefined) out.push(JSON.parse(text) as Lesson);
  }
  return out.sort((a, b) => {
    if (a.addedAt !== b.addedAt) return a.addedAt < b.addedAt ? -1 : 1;
    if ((a.order ?? 0) !== (b.order ?? 0)) return (a.order ?? 0) - (b.order ?? 0);
    return a.id < b.id ? -1 : 1;
  });
}

/** The lessons as every agent prompt shows them (empty when there are none). */
export async function lessonsText(place: LessonPlace): Promise<string> {
  return renderLessons(await listLessons(place));
}

export class LessonNotFound extends Error {}

export async function removeLesson(place: LessonPlace, id: string): Promise<Lesson> {
  const l = (await listLessons(place)).find((x) => x.id === id);
  if (!l) throw new LessonNotFound(`no lesson "${id}"; see nightshift lessons list`);
  // The marker first: a crash before the delete still leaves the lesson removed.
  await place.store.putIfAbsent('lessons', LESSON_LIST_SCOPE, removedKey(id), new Date().toISOString());
  await place.store.delete('lessons', LESSON_LIST_SCOPE, lessonKey(id));
  return l;
}

const lessonId = (source: string, task: string | undefined, text: string) =>
  createHash('sha256')
    .update(`${source}\n${task ?? ''}\n${text}`)
    .digest('hex')
    .slice(0, 8);

export interface FeedbackImport {
  feedback: Feedback;
  /** Where the ratings were stored. */
  ratingsFile: string;
  added: Lesson[];
  /** Tasks the feedback names that the night's results do not have. */
  unknownTasks: string[];
}

/** Reads a feedback file and stores what it says. Reading the same file again changes nothing. */
export async function importFeedback(place: LessonPlace, file: string): Promise<FeedbackImport> {
  const { root, store } = place;
  const abs = path.resolve(root, file);
  const rel = path.relative(root, abs).startsWith('..') ? abs : path.relative(root, abs);
  const text = await fs.readFile(abs, 'utf8');
  const feedback = parseFeedback(text, rel);
  const date = feedback.date!;

  const results = await fs.readFile(path.join(root, 'results', `${date}.json`), 'utf8').then(
    (t) => JSON.parse(t) as { results?: { task: string }[] },
    () => undefined,
  );
  const known = new Set(results?.results?.map((r) => r.task) ?? []);
  const unknownTasks = results ? feedback.tasks.map((t) => t.taskId).filter((id) => !known.has(id)) : [];

  const ratingsFile = feedbackResultsFile(root, date);
  await writeAtomic(ratingsFile, JSON.stringify({ date, source: rel, ...feedback, file: undefined }, null, 2) + '\n');

  await migrateLegacyLessons(place);
  const added: Lesson[] = [];
  const addedAt = new Date().toISOString();
  let order = 0;
  for (const t of feedback.tasks) {
    for (const action of t.actions) {
      order += 1;
      const id = lessonId(rel, t.taskId, action);
      if ((await store.get('lessons', LESSON_LIST_SCOPE, removedKey(id))) !== undefined) continue;
      const lesson: Lesson = {
        id,
        text: action,
        source: rel,
        task: t.taskId,
        date,
        ...(t.rating !== undefined ? { rating: `${t.rating}/${t.outOf}` } : {}),
        addedAt,
        order,
      };
      // Insert-if-absent: the same file read twice, or on two hosts at once, adds each lesson once.
      if (await store.putIfAbsent('lessons', LESSON_LIST_SCOPE, lessonKey(id), JSON.stringify(lesson)))
        added.push(lesson);
    }
  }
  return { feedback, ratingsFile: path.relative(root, ratingsFile), added, unknownTasks };
}

/** Every stored rating: `results/*.feedback.json`. */
export async function loadRatings(
  root: string,
): Promise<{ date: string; task: string; rating: number; outOf: number }[]> {
  const dir = path.join(root, 'results');
  const names = (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.feedback.json')).sort();
  const out: { date: string; task: string; rating: number; outOf: number }[] = [];
  for (const n of names) {
    const f = JSON.parse(await fs.readFile(path.join(dir, n), 'utf8')) as {
      date: string;
      tasks: { taskId: string; rating?: number; outOf?: number }[];
    };
    for (const t of f.tasks)
      if (t.rating !== undefined && t.outOf)
        out.push({ date: f.date, task: t.taskId, rating: t.rating, outOf: t.outOf });
  }
  return out;
}
