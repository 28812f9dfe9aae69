/** The `nightshift schedule` command tree (kept out of cli.ts, which many commands share). */
import { Command } from 'commander';
import type { NightshiftConfig } from '../../common/config';
import { load } from '../lazy';

export function scheduleCommand(config: NightshiftConfig, print: (s: string) => void): Command {
  const cmd = new Command('schedule').description(
    'nightly batches on a Temporal Schedule: create, list, pause, unpause, trigger, delete',
  );

  cmd
    .command('create')
    .description(
      'start nightlyBatch on a cron schedule (overlap policy: skip; missed nights run within the catch-up window)',
    )
    .requiredOption('--cron <expr>', 'cron expression, e.g. "0 2 * * *" (02:00 every night)')
    .requiredOption('--tasks <path>', 'task file or folder inside NIGHTSHIFT_ROOT, e.g. tasks/pending/')
    .option('--timezone <tz>', "IANA time zone for the cron and the night's date (default UTC)")
    .option('--id <id>', 'schedule ID (default nightshift-nightly, whose runs are nightshift-<scheduled time>)')
    .option('--catchup-window <duration>', 'how late a missed night may still start, e.g. 6h', '6h')
    .option('--paused', 'create it paused')
    .option(
      '--followup',
      "each night first turns review feedback and failing checks on its repositories' nightshift PRs into tasks (as nightshift followup)",
    )
    .option('--json', 'print machine-readable output')
    .action(
      async (o: {
        cron: string;
        tasks: string;
        timezone?: string;
        id?: string;
        catchupWindow: string;
        paused?: boolean;
        followup?: boolean;
        json?: boolean;
      }) => {
        const client = await load.temporal().connectClient(config);
        const r = await load.schedule().createSchedule(client, config, o);
        const info = await load.schedule().describeSchedule(client, r.scheduleId);
        if (o.json) print(JSON.stringify(info, null, 2));
        else
          print(
            `created schedule ${r.scheduleId}: ${o.cron} ${o.timezone ?? 'UTC'} · runs ${info.tasksFile} as ${r.workflowIdBase}-<scheduled time>\n  next run: ${info.nextRuns[0] ?? '-'}`,
          );
      },
    );

  cmd
    .command('list')
    .description('schedules that start nightlyBatch, with their next run and last batch')
    .option('--json', 'print machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const list = await load.schedule().listSchedules(await load.temporal().connectClient(config));
      print(o.json ? JSON.stringify(list, null, 2) : load.schedule().renderSchedules(list));
    });

  cmd
    .command('describe')
    .description('one schedule: cron, time zone, state, next runs, recent batches')
    .argument('[id]', 'schedule ID', 'nightshift-nightly')
    .option('--json', 'print machine-readable output')
    .action(async (id: string, o: { json?: boolean }) => {
      const info = await load.schedule().describeSchedule(await load.temporal().connectClient(config), id);
      print(o.json ? JSON.stringify(info, null, 2) : load.schedule().renderSchedules([info]));
    });

  for (const [name, what] of [
    ['pause', 'stop starting nights until unpaused'],
    ['unpause', 'start nights again'],
    ['trigger', 'start a night now (skipped if one from this schedule is still running)'],
    ['delete', 'delete the schedule (batches it started are left alone)'],
  ] as const) {
    const sub = cmd
      .command(name)
      .description(what)
      .argument('[id]', 'schedule ID', 'nightshift-nightly')
      .option('--json', 'print machine-readable output');
    if (name === 'pause' || name === 'unpause') sub.option('--note <text>', 'recorded on the schedule');
    sub.action(async (id: string, o: { json?: boolean; note?: string }) => {
      await load.schedule().scheduleAction(await load.temporal().connectClient(config), name, id, o.note);
      print(o.json ? JSON.stringify({ scheduleId: id, action: name, ok: true }) : `${name}: ${id}`);
    });
  }
  return cmd;
}
