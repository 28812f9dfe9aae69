/**
 * Registers `skills`, `feedback`, `lessons` and `insights` on the CLI (kept here so
 * client/cli.ts changes by a line).
 */
import type { Command } from 'commander';
import type { NightshiftConfig } from '../../common/config';
import type { InsightRow } from '../../activities/learning/insights';
import type { SkillShelf } from '../../activities/learning/skills';
import type { StateStore } from '../../common/store';
import { CliError, EXIT } from '../errors';
import { table, usd } from '../format';
import { load } from '../lazy';

type Print = (s: string) => void;

/** Store errors a person can fix become "not found" exits rather than stack traces. */
async function notFound<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    // The store modules are loaded: the command that threw used them.
    if (err instanceof load.skills().SkillNotFound || err instanceof load.lessons().LessonNotFound)
      throw new CliError(err.message, EXIT.notFound);
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new CliError(`no such file: ${(err as NodeJS.ErrnoException).path}`, EXIT.notFound);
    throw err;
  }
}

export function renderInsightRows(title: string, rows: InsightRow[]): string {
  return `${title}\n${table(
    ['', 'TASKS', 'SUCCEEDED', 'COST', 'AVG COST', 'RATING'],
    rows.map((r) => [
      r.key,
      String(r.tasks),
      `${r.succeeded} (${Math.round(r.successRate * 100)} %)`,
      usd(r.costUsd),
      usd(r.avgCostUsd),
      r.avgRating !== undefined ? `${r.avgRating}/5 (${r.rated})` : '-',
    ]),
  )}`;
}

export function registerLearningCommands(program: Command, config: NightshiftConfig, print: Print, info: Print): void {
  // `config` is filled in once the arguments are parsed (client/cli.ts), so it is read inside the actions.
  const withStore = <T>(fn: (store: StateStore) => Promise<T>) => load.store().withStateStore(config, fn);
  const shelf = <T>(fn: (s: SkillShelf) => Promise<T>) => withStore((store) => fn({ root: config.root, store }));
  const skills = program
    .command('skills')
    .description(
      'the skills store: skills/<name>.md, and the learned and pending skills in the state store (skills/learned/, skills/pending/ with the file store)',
    );
  skills
    .command('list')
    .description('every skill, learned skill and pending skill')
    .option('--json', 'print as JSON')
    .action(async (o: { json?: boolean }) => {
      const all = await shelf(load.skills().listSkills);
      if (o.json) return print(JSON.stringify(all, null, 2));
      print(
        all.length
          ? table(
              ['SKILL', 'STATUS', 'CONFIDENCE', 'LEARNED FROM', 'DATE'],
              all.map((s) => [s.name, s.status, s.confidence?.toFixed(2) ?? '-', s.source ?? '-', s.date ?? '-']),
            )
          : 'no skills yet: write skills/<name>.md, or set on_completion.update_skill on a task',
      );
    });
  skills
    .command('show')
    .argument('<name>')
    .description('print a skill (hand-written first, then learned, then pending)')
    .action(async (name: string) => print((await notFound(shelf((s) => load.skills().findSkill(s, name)))).text));
  skills
    .command('approve')
    .argument('<name>')
    .description('make a pending skill learned, where tasks that require it find it')
    .action(async (name: string) =>
      print(`approved: ${(await notFound(shelf((s) => load.skills().approveSkill(s, name)))).file}`),
    );
  skills
    .command('reject')
    .argument('<name>')
    .description('delete a pending skill')
    .action(async (name: string) => {
      await notFound(shelf((s) => load.skills().rejectSkill(s, name)));
      print(`rejected ${name}`);
    });

  program
    .command('feedback')
    .description("read a feedback file: ratings are stored with the night's results, Action lines become lessons")
    .argument('<file>', 'e.g. feedback/2026-11-21.md')
    .option('--json', 'print the parsed feedback and the lessons added as JSON')
    .action(async (file: string, o: { json?: boolean }) => {
      const r = await notFound(withStore((store) => load.lessons().importFeedback({ root: config.root, store }, file)));
      if (r.unknownTasks.length)
        info(
          `note: results/${r.feedback.date}.json has no task ${r.unknownTasks.join(', ')}; their ratings are kept anyway`,
        );
      if (o.json)
        return print(JSON.stringify({ feedback: r.feedback, ratingsFile: r.ratingsFile, added: r.added }, null, 2));
      const rated = r.feedback.tasks.filter((t) => t.rating !== undefined);
      print(
        [
          `${r.feedback.file}: ${r.feedback.tasks.length} tasks (${rated.map((t) => `${t.taskId} ${t.rating}/${t.outOf}`).join(', ') || 'none rated'}) -> ${r.ratingsFile}`,
          `${r.added.length} new lesson${r.added.length === 1 ? '' : 's'}${r.added.map((l) => `\n  ${l.id}  ${l.text}`).join('')}`,
          ...(r.feedback.tomorrow.length
            ? [
                `tomorrow's adjustments (for you, not the agents):${r.feedback.tomorrow.map((t) => `\n  - ${t}`).join('')}`,
              ]
            : []),
        ].join('\n'),
      );
    });

  const lessons = program
    .command('lessons')
    .description('lessons from feedback Action lines, included in every agent prompt');
  lessons
    .command('list')
    .option('--json', 'print as JSON')
    .action(async (o: { json?: boolean }) => {
      const all = await withStore((store) => load.lessons().listLessons({ root: config.root, store }));
      if (o.json) return print(JSON.stringify(all, null, 2));
      print(
        all.length
          ? table(
              ['ID', 'DATE', 'TASK', 'LESSON'],
              all.map((l) => [l.id, l.date, l.task ?? '-', l.text.replace(/\s+/g, ' ')]),
              { fit: ['LESSON'] },
            )
          : 'no lessons yet: nightshift feedback feedback/<date>.md adds them from Action lines',
      );
    });
  lessons
    .command('remove')
    .argument('<id>')
    .description('remove a lesson (it stays removed if its feedback is read again)')
    .action(async (id: string) =>
      print(
        `removed ${id}: ${(await notFound(withStore((store) => load.lessons().removeLesson({ root: config.root, store }, id)))).text}`,
      ),
    );

  program
    .command('insights')
    .description('ratings, cost and success over time, by role, model and complexity')
    .option('--json', 'print as JSON')
    .action(async (o: { json?: boolean }) => {
      const i = await load.insights().computeInsights(config.root);
      if (o.json) return print(JSON.stringify(i, null, 2));
      print(
        [
          renderInsightRows('All nights', [i.total]),
          renderInsightRows('By night', i.byDate),
          renderInsightRows('By role', i.byRole),
          renderInsightRows('By model', i.byModel),
          renderInsightRows('By complexity', i.byComplexity),
        ].join('\n\n'),
      );
    });
}
