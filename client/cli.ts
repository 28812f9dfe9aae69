/**
 * `nightshift`: start, watch and steer nights of agent work. Every command talks to
 * Temporal; the same actions are available through the Temporal CLI (see docs/operations.md).
 */
import { Command, CommanderError, Option } from 'commander';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { debugStacks, loadConfig, LOG_FORMATS, webUiUrl, type NightshiftConfig } from '../common/config';
import { formatSpecIssue, SpecError } from '../common/errors';
import type { LogFormat } from '../worker/log';
import type { BatchStatus, IntakeStatus } from '../contract';
import type { IntakeOptions } from './commands/intake';
import { registerDeployCommands } from './commands/deploy';
import { registerLearningCommands } from './commands/learning-cli';
import { registerPlanningCommands } from './commands/planning-cli';
import { scheduleCommand } from './commands/schedule-cli';
import { CliError, EXIT } from './errors';
import { localDate } from './format';
import { load } from './lazy';
import { configureHints, nightshiftCommand, versionLine } from './hints';

/** `start --mode`: folder mode over a tasks folder (commands/intake.ts runs them). */
const MODES = ['once', 'batch', 'continuous', 'status'] as const;

const print = (s: string) => process.stdout.write(s + '\n');
const info = (s: string) => process.stderr.write(s + '\n');

/** Exit 1 for `start --wait`: the batch failed or a task did not succeed. */
const batchSucceeded = (s: BatchStatus) => s.state !== 'failed' && s.tasks.every((t) => t.status === 'succeeded');

/** Exit 1 for `status`: the batch failed, or a task ended without succeeding (running and pending tasks may still). */
const batchFailed = (s: BatchStatus) =>
  s.state === 'failed' ||
  s.tasks.some((t) => load.contract().FINAL_STATES.includes(t.status) && t.status !== 'succeeded');

/** Exit 1 for `start --mode once|batch --wait`: a file was rejected or a task did not succeed. */
const intakeSucceeded = (s: IntakeStatus) => s.rejected.length === 0 && s.recent.every((t) => t.status === 'succeeded');

const USAGE_HINT = '(add --help for usage)';

/** Usage errors exit 2 with one line and a hint, not the whole help; on every subcommand. */
function configureErrors(cmd: Command): void {
  cmd.exitOverride().showHelpAfterError(USAGE_HINT);
  for (const sub of cmd.commands) configureErrors(sub);
}

/**
 * The Temporal CLI's connection flags. Each stands for the TEMPORAL_* variable envconfig
 * reads and wins over it, so `--env prod` or `--address` work as they do for `temporal`.
 */
const CONNECTION_FLAGS: { flags: string; help: string; variable: string }[] = [
  {
    flags: '--address <host:port>',
    help: 'Temporal frontend address (TEMPORAL_ADDRESS; default localhost:7233)',
    variable: 'TEMPORAL_ADDRESS',
  },
  {
    flags: '-n, --namespace <name>',
    help: 'Temporal namespace (TEMPORAL_NAMESPACE; default "default")',
    variable: 'TEMPORAL_NAMESPACE',
  },
  {
    flags: '--env <profile>',
    help: "profile of the Temporal CLI's config file, temporal.toml (TEMPORAL_PROFILE)",
    variable: 'TEMPORAL_PROFILE',
  },
  { flags: '--profile <profile>', help: 'the same as --env', variable: 'TEMPORAL_PROFILE' },
  {
    flags: '--config-file <path>',
    help: 'the Temporal config file (TEMPORAL_CONFIG_FILE; default ~/.config/temporalio/temporal.toml)',
    variable: 'TEMPORAL_CONFIG_FILE',
  },
  {
    flags: '--api-key <key>',
    help: 'Temporal Cloud API key (TEMPORAL_API_KEY; turns TLS on)',
    variable: 'TEMPORAL_API_KEY',
  },
  { flags: '--tls', help: 'connect with TLS (TEMPORAL_TLS)', variable: 'TEMPORAL_TLS' },
  {
    flags: '--tls-cert-path <path>',
    help: 'client certificate for mTLS (TEMPORAL_TLS_CLIENT_CERT_PATH)',
    variable: 'TEMPORAL_TLS_CLIENT_CERT_PATH',
  },
  {
    flags: '--tls-key-path <path>',
    help: 'client private key for mTLS (TEMPORAL_TLS_CLIENT_KEY_PATH)',
    variable: 'TEMPORAL_TLS_CLIENT_KEY_PATH',
  },
  {
    flags: '--tls-ca-path <path>',
    help: 'server CA certificate (TEMPORAL_TLS_SERVER_CA_CERT_PATH)',
    variable: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
  },
  {
    flags: '--tls-server-name <name>',
    help: 'server name to verify (TEMPORAL_TLS_SERVER_NAME)',
    variable: 'TEMPORAL_TLS_SERVER_NAME',
  },
  {
    flags: '--tls-disable-host-verification',
    help: "do not verify the server's host name (TEMPORAL_TLS_DISABLE_HOST_VERIFICATION)",
    variable: 'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION',
  },
];

/** The flags given on this command line, to repeat in hints; never the API key, which would end up in a terminal's scrollback. */
function givenConnectionFlags(program: Command): string[] {
  const out: string[] = [];
  for (const f of CONNECTION_FLAGS) {
    const opt = new Option(f.flags);
    const v = program.getOptionValue(opt.attributeName()) as unknown;
    if (
      v === undefined ||
      f.variable === 'TEMPORAL_API_KEY' ||
      program.getOptionValueSource(opt.attributeName()) !== 'cli'
    )
      continue;
    out.push(...(v === true ? [opt.long!] : [opt.long!, String(v)]));
  }
  return out;
}

/** The variables the global flags stand for, each flag given as the value of its variable, to lay over the environment. */
export function connectionOverrides(flags: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of CONNECTION_FLAGS) {
    const v = flags[new Option(f.flags).attributeName()];
    if (v !== undefined) out[f.variable] = v === true ? 'true' : String(v);
  }
  return out;
}

function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new CliError(`--ui-port must be a port number from 1 to 65535, not "${v}"`, EXIT.usage);
  return n;
}

export function buildProgram(): Command {
  // Read in the preAction hook, after the arguments: `--help` and `--version` work with any settings.
  const config = {} as NightshiftConfig;
  const connect = () => load.temporal().connectClient(config);
  const program = new Command('nightshift').description(
    'Run a night of coding-agent work as durable Temporal workflows.',
  );
  for (const f of CONNECTION_FLAGS) program.option(f.flags, f.help);
  program.addOption(
    new Option('-o, --output <format>', 'text, or json: the same as --json on every command that has it').choices([
      'text',
      'json',
    ]),
  );
  program.option('-V, --version', 'print the version and git commit');
  program.on('option:version', () => {
    print(`nightshift ${versionLine()}`);
    process.exit(EXIT.ok);
  });
  // Every command reads `config`; the flags are known only now, so it is filled in place.
  program.hook('preAction', (_program, action) => {
    const global = program.opts();
    try {
      Object.assign(config, loadConfig(undefined, connectionOverrides(global)));
      if (config.modelsFile) load.modelsFile().installModelFile(config.modelsFile);
      configureHints(config.host, givenConnectionFlags(program));
    } catch (err) {
      throw new CliError((err as Error).message, EXIT.usage);
    }
    // Only the commands that run a worker (they take --log-format) have a Temporal runtime to log for.
    if (action.options.some((o) => o.long === '--log-format')) {
      const logFormat = (action.opts() as { logFormat?: LogFormat }).logFormat;
      load.log().installLogger({ ...config.log, ...(logFormat ? { format: logFormat } : {}) });
    }
    if (global.output === 'json') {
      if (!action.options.some((o) => o.long === '--json'))
        throw new CliError(`-o json: \`${action.name()}\` has no JSON output`, EXIT.usage);
      action.setOptionValue('json', true);
    }
  });

  program
    .command('start')
    .description('validate a task file (or directory) and start its batch; or, with --mode, run the tasks folder')
    .argument(
      '[file]',
      'task file or directory, inside NIGHTSHIFT_ROOT (with --decompose: the goal; with --mode: the folder holding pending/, default tasks/)',
    )
    .option('--decompose', 'treat the argument as a goal: a worker plans it into tasks/<date>.yaml, then runs it')
    .option('--date <YYYY-MM-DD>', "the night's date (default: the file's date:, else today)")
    .option('--workflow-id <id>', 'batch workflow ID (default: nightshift-<date>; with --mode: nightshift-intake)')
    .option('--rerun', 'run again even if this batch ID already completed')
    .option('--wait', 'follow progress until the batch ends, then print the result table')
    .option('--json', 'print machine-readable output')
    .addOption(new Option('--mode <mode>', 'folder mode over FOLDER/pending/').choices([...MODES]))
    .option('--budget <usd>', 'with --mode: daily budget in USD, reset at midnight UTC (default 50)')
    .option('--max-concurrent <n>', 'with --mode: tasks running at once (default 3)')
    .option('--poll <duration>', 'with --mode: how often pending/ is read (default 60s)')
    .action(
      async (
        file: string | undefined,
        o: {
          decompose?: boolean;
          date?: string;
          workflowId?: string;
          rerun?: boolean;
          wait?: boolean;
          json?: boolean;
        } & IntakeOptions & { mode?: (typeof MODES)[number] },
      ) => {
        const client = await connect();
        if (o.mode === 'status') {
          const r = await load.intake().intakeReport(client, config, file, o.workflowId);
          print(o.json ? JSON.stringify(r, null, 2) : load.intake().renderIntake(r));
          return;
        }
        if (o.mode) {
          if (o.wait && o.mode !== 'continuous') await load.workers().requireWorker(client);
          const { intakeId, folder } = await load.intake().startIntake(client, config, o.mode, file, o);
          if (!o.wait || o.mode === 'continuous') {
            print(
              o.json
                ? JSON.stringify({ intakeId, folder, mode: o.mode })
                : `started ${intakeId} (${o.mode}) over ${folder}/pending/\n  status: ${nightshiftCommand()} status --intake`,
            );
            return;
          }
          const final = await load.intake().waitForIntake(client, intakeId);
          print(
            o.json
              ? JSON.stringify(final, null, 2)
              : load.intake().renderIntake(await load.intake().intakeReport(client, config, file, intakeId)),
          );
          if (!intakeSucceeded(final)) process.exitCode = EXIT.failure;
          return;
        }
        if (!file)
          throw new CliError('give a task file or directory, or --mode once|batch|continuous|status', EXIT.usage);
        // Waiting needs a worker; checked before anything starts, so nothing is left waiting behind a failed command.
        if (o.wait) await load.workers().requireWorker(client);
        const started = o.decompose
          ? await load
              .plan()
              .startDecomposed(client, file, { date: o.date, workflowId: o.workflowId }, o.wait ? info : undefined)
          : await load.batch().startBatch(client, config, file, { ...o, onWarning: info });
        const { batchId, runId } = started;
        for (const w of 'warnings' in started ? started.warnings : []) info(`warning: ${formatSpecIssue(w)}`);
        if (!o.wait) {
          if (o.json) print(JSON.stringify({ batchId, runId, webUi: load.batch().webUiLink(config, batchId) }));
          else
            print(
              `started ${batchId}\n  web UI: ${load.batch().webUiLink(config, batchId)}\n  status: ${nightshiftCommand()} status ${batchId}`,
            );
          // The batch waits on the server until a worker comes; say so rather than leave it silent.
          if ((await load.workers().pollingWorkers(client)).length === 0)
            info(`note: ${load.workers().noWorkerMessage()}; the batch waits until one does`);
          return;
        }
        if (!o.json) info(`started ${batchId} · web UI: ${load.batch().webUiLink(config, batchId)}`);
        const s = await load.batch().followBatch(client, batchId, o.json ? () => undefined : info);
        print(o.json ? JSON.stringify(s, null, 2) : '\n' + load.batch().renderStatus(s));
        if (!batchSucceeded(s)) process.exitCode = EXIT.failure;
      },
    );

  program
    .command('status')
    .description("show a batch's tasks, costs and results (default: the newest running batch)")
    .argument('[batch]', 'batch workflow ID, e.g. nightshift-2026-11-21')
    .option('--json', 'print the status query result as JSON')
    .option('--watch', 'refresh every 2 seconds until the batch ends')
    .option(
      '--intake [folder]',
      "folder mode's view: the tasks folder (pending/running/completed/failed), the intake and today's budget",
    )
    .action(async (batch: string | undefined, o: { json?: boolean; watch?: boolean; intake?: string | boolean }) => {
      if (o.intake) {
        const r = await load
          .intake()
          .intakeReport(await connect(), config, typeof o.intake === 'string' ? o.intake : undefined);
        print(o.json ? JSON.stringify(r, null, 2) : load.intake().renderIntake(r));
        return;
      }
      const s = await load.batch().statusCommand(await connect(), batch, o, print);
      if (batchFailed(s)) process.exitCode = EXIT.failure;
    });

  program
    .command('report')
    .description(
      'write results/<date>-report.md, results/<date>.json and the checks as JUnit XML (results/<date>.junit.xml) for a batch, running or finished',
    )
    .argument(
      '[batch]',
      'batch workflow ID, or the task file it ran (the newest batch from it) (default: the newest running batch, else the newest)',
    )
    .option(
      '--json',
      'print the paths and the report itself (what results/<date>.json holds: every task with its checks) as JSON',
    )
    .action(async (batch: string | undefined, o: { json?: boolean }) => {
      const client = await connect();
      const status = await load
        .batches()
        .readBatch(
          client,
          batch !== undefined
            ? await load.batches().batchIdFor(client, config.root, batch)
            : await load.batches().latestBatchId(client),
          config,
        );
      const files = await load.report().writeReportFiles(config.root, status, status.budget?.capUsd);
      const report = o.json
        ? (JSON.parse(await readFile(path.join(config.root, files.json), 'utf8')) as unknown)
        : undefined;
      print(
        o.json
          ? JSON.stringify({ ...files, report }, null, 2)
          : `wrote ${files.markdown}
wrote ${files.json}
wrote ${files.junit}`,
      );
    });

  program
    .command('followup')
    .description(
      "turn review comments, requested changes and failing check runs on nightshift's open PRs into tasks that continue those PRs, in one batch",
    )
    .option('--repo <owner/name...>', 'GitHub repositories to read (default: those of the PRs in results/*.json)')
    .option('--since <date>', 'only feedback given since this date (YYYY-MM-DD) or ISO time')
    .option('--json', 'print the tasks made, the PRs skipped and the batch ID as JSON')
    .action(async (o: { repo?: string[]; since?: string; json?: boolean }) => {
      const client = await connect();
      const r = await load.followup().followUp(client, config, { repos: o.repo, since: o.since });
      print(o.json ? JSON.stringify(r, null, 2) : load.followup().renderFollowUp(r));
      if (r.started && (await load.workers().pollingWorkers(client)).length === 0)
        info(`note: ${load.workers().noWorkerMessage()}; the batch waits until one does`);
    });

  program
    .command('cancel')
    .description(
      'cancel one task of a running batch (its dependents are skipped), or without TASK the whole night: running tasks are cancelled with their work kept, the report is written',
    )
    .argument('<batch>', 'batch workflow ID')
    .argument('[task]', 'task ID (default: every task of the night)')
    .option('--reason <text>', "recorded in the task's result and the report")
    .option('--json', 'print the task result (without TASK: every task result) as JSON')
    .action(async (batch: string, task: string | undefined, o: { reason?: string; json?: boolean }) => {
      const client = await connect();
      await load.workers().requireWorker(client);
      const results = await load.batch().cancelCommand(client, batch, task, o.reason);
      if (o.json) print(JSON.stringify(task === undefined ? results : results[0]));
      else for (const r of results) print(`${r.taskId}: ${r.status}${r.error ? ` (${r.error})` : ''}`);
    });

  program
    .command('answer')
    .description(
      "answer a task's question (the `answer` signal); or send agent_questions/<task>-answer.md files with --from-files",
    )
    .argument('[task]', 'task ID')
    .argument('[text]', 'the answer')
    .option('--batch <id>', 'the batch the task runs in (default: found by its running task)')
    .option(
      '--from-files [dir]',
      'send every <task>-answer.md in dir (default: agent_questions/); sent files are renamed *-answer.sent.md',
    )
    .option('--json', 'print what was sent as JSON')
    .action(
      async (
        task: string | undefined,
        text: string | undefined,
        o: { batch?: string; fromFiles?: string | boolean; json?: boolean },
      ) => {
        const client = await connect();
        if (o.fromFiles !== undefined) {
          if (task || text) throw new CliError('--from-files takes no task or text', EXIT.usage);
          const r = await load
            .questions()
            .answerFromFiles(client, config, typeof o.fromFiles === 'string' ? o.fromFiles : undefined, o.batch);
          if (o.json) print(JSON.stringify(r, null, 2));
          else {
            for (const a of r.sent) print(`answered ${a.taskId} (${a.workflowId})`);
            for (const f of r.failed) info(`not sent: ${f.file}: ${f.error}`);
            if (r.sent.length + r.failed.length === 0) print('no *-answer.md files to send');
          }
          if (r.failed.length) process.exitCode = EXIT.failure;
          return;
        }
        if (!task || text === undefined)
          throw new CliError(
            'usage: nightshift answer TASK "text" [--batch ID], or nightshift answer --from-files [dir]',
            EXIT.usage,
          );
        const sent = await load
          .questions()
          .answerTask(client, task, text, o.batch, load.questions().localUser(config.host));
        print(
          o.json
            ? JSON.stringify(sent)
            : `answered ${task} (${sent.workflowId})${sent.question ? `: ${sent.question.slice(0, 80)}` : ''}`,
        );
      },
    );

  program
    .command('questions')
    .description('list open questions across running batches, with their age and the command that answers each')
    .option('--json', 'print the questions as JSON')
    .action(async (o: { json?: boolean }) => {
      const qs = await load.questions().listQuestions(await connect());
      print(o.json ? JSON.stringify(qs, null, 2) : load.questions().renderQuestions(qs));
    });

  const budget = program.command('budget').description("a running batch's budget");
  budget
    .command('raise')
    .description(
      "add USD to a batch cap (or, with --task, to one task's cap) and resume tasks paused by the budget (update `raiseBudget`)",
    )
    .argument('<batch>', 'batch workflow ID')
    .argument('<usd>', 'US dollars to add')
    .option('--task <id>', "raise this task's max_cost_usd instead of the batch's")
    .option('--json', 'print the new cap and the resumed tasks as JSON')
    .action(async (batch: string, usd: string, o: { task?: string; json?: boolean }) => {
      const r = await load.questions().raiseBudget(await connect(), batch, usd, o.task);
      print(
        o.json
          ? JSON.stringify(r)
          : `${batch}: ${o.task ? `${o.task}'s cap raised` : `cap now $${r.capUsd.toFixed(2)}`}; resumed: ${r.resumed.join(', ') || 'none'}`,
      );
    });

  budget
    .command('day')
    .description("the day's spend across batches against the daily cap (query `status` on nightshift-ledger-<date>)")
    .argument('[date]', 'UTC date YYYY-MM-DD (default: today)')
    .option('--json', 'print the ledger as JSON')
    .action(async (date: string | undefined, o: { json?: boolean }) => {
      const s = await load.ledger().readLedger(await connect(), date);
      print(o.json ? JSON.stringify(s, null, 2) : load.ledger().renderLedger(s));
    });
  budget
    .command('raise-day')
    .description(
      "add USD to a day's cap across all its batches and resume the tasks it paused (update `raiseBudget` on nightshift-ledger-<date>)",
    )
    .argument('<usd>', 'US dollars to add')
    .option('--date <YYYY-MM-DD>', 'the UTC day (default: today)')
    .option('--json', 'print the new cap and the resumed tasks as JSON')
    .action(async (usd: string, o: { date?: string; json?: boolean }) => {
      const r = await load.ledger().raiseDay(await connect(), usd, o.date);
      print(
        o.json
          ? JSON.stringify(r)
          : `${r.date}: daily cap now $${r.capUsd.toFixed(2)}; resumed: ${r.resumed.join(', ') || 'none'}`,
      );
    });

  program
    .command('telegram')
    .description(
      "listen for replies to question messages on Telegram and send each as the task's answer (Bot API long poll; Ctrl-C stops)",
    )
    .option('--once', 'poll once without waiting, forward what is there, and exit')
    .option('--poll-seconds <n>', 'long-poll wait of each getUpdates call', '25')
    .option('--json', 'print each forwarded answer as a JSON line')
    .action(async (o: { once?: boolean; pollSeconds: string; json?: boolean }) => {
      const pollSeconds = Number(o.pollSeconds);
      if (!Number.isInteger(pollSeconds) || pollSeconds < 0 || pollSeconds > 50)
        throw new CliError(
          `--poll-seconds must be a whole number of seconds from 0 to 50, not "${o.pollSeconds}"`,
          EXIT.usage,
        );
      const stop = new AbortController();
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => stop.abort());
      const client = await connect();
      // The workers' records of the questions they sent, wherever they run.
      const store = await load.store().openStateStore(config);
      if (!o.once && !o.json)
        info(`listening for replies to question messages (${config.notify.telegramApiUrl}); Ctrl-C stops`);
      const sent = await load
        .telegram()
        .listenTelegram({
          client,
          env: config.notify,
          root: config.root,
          store,
          once: o.once,
          pollSeconds: o.once ? 0 : pollSeconds,
          signal: stop.signal,
          onAnswer: (a) =>
            print(
              o.json
                ? JSON.stringify(a)
                : `answered ${a.taskId} (${a.workflowId}): ${a.text.replace(/\s+/g, ' ').slice(0, 80)}`,
            ),
          onProblem: (line) => info(`telegram: ${line}`),
        })
        .finally(() => store.close());
      if (!o.json) info(`stopped; ${sent.length} answer(s) forwarded`);
    });

  program
    .command('validate')
    .description('check a task file or directory; prints every problem with file, line and field')
    .argument('<file>', 'task file or directory')
    .option('--json', 'print the normalized batch, or the problems, as JSON')
    .action(async (file: string, o: { json?: boolean }) => {
      try {
        const { spec, warnings: found } = await load.validate().validateFile(config, file);
        const warnings = [
          ...load.models().modelWarnings(spec, spec.date ?? localDate()),
          ...found.map(formatSpecIssue),
        ];
        warnings.push(...(await load.models().checkModelsOffered(config, spec)));
        if (!o.json) for (const w of warnings) info(`warning: ${w}`);
        print(o.json ? JSON.stringify({ ok: true, spec, warnings }, null, 2) : load.validate().describePlan(spec));
      } catch (err) {
        if (err instanceof SpecError && o.json) {
          print(JSON.stringify({ ok: false, issues: err.issues }, null, 2));
          process.exitCode = EXIT.invalidSpec;
          return;
        }
        throw err;
      }
    });

  program
    .command('models')
    .description(
      'the models nightshift knows: aliases, prices per million tokens, window, how a tool answer is asked for, thinking, end of life',
    )
    .option('--json', 'print the table as JSON')
    .action((o: { json?: boolean }) => {
      const listing = load.models().listModels(localDate(), config.modelsFile);
      print(o.json ? JSON.stringify(listing, null, 2) : load.models().renderModels(listing));
    });

  program
    .command('prompt')
    .description('print the system prompt and first message an agent task starts with')
    .argument('<file>', 'task file or directory')
    .argument('<task>', 'task ID')
    .option('--json', 'print { system, firstMessage } as JSON')
    .action(async (file: string, task: string, o: { json?: boolean }) => {
      const store = await load.store().openStateStore(config);
      const p = await load
        .prompt()
        .promptForTask(file, task, config.root, store)
        .finally(() => store.close());
      print(
        o.json
          ? JSON.stringify({ system: p.system, firstMessage: p.firstMessage }, null, 2)
          : `${p.system}\n\n--- first message ---\n${p.firstMessage}`,
      );
    });

  program
    .command('worker')
    .description(
      'run a worker on task queue "nightshift" (Ctrl-C stops it after handing back its work); logs one line per task event',
    )
    .addOption(
      new Option('--log-format <format>', 'text lines, or json lines (NIGHTSHIFT_LOG_FORMAT)').choices([
        ...LOG_FORMATS,
      ]),
    )
    .action(async () => load.worker().runWorker({ config }));

  program
    .command('server')
    .description(
      'run the embedded Temporal dev server on --address (SQLite in .nightshift/, Web UI on its port + 1000, e.g. :8233)',
    )
    .option('--ui-port <port>', 'Web UI port (NIGHTSHIFT_UI_PORT; default the server port + 1000)')
    .action(async (o: { uiPort?: string }) => {
      if (o.uiPort) config.temporal.uiPort = parsePort(o.uiPort);
      info(`Temporal dev server on ${config.temporal.address}, Web UI ${webUiUrl(config)}`);
      const child = load.server().runDevServer(config);
      await new Promise<void>((resolve) => child.once('exit', () => resolve()));
    });

  program
    .command('demo')
    .description('run the example night end to end: dev server if needed, a worker, tasks/example.yaml')
    .addOption(new Option('--file <file>', 'task file to run').default('tasks/example.yaml'))
    .option(
      '--ui-port <port>',
      "the started dev server's Web UI port (NIGHTSHIFT_UI_PORT; default the server port + 1000)",
    )
    .addOption(
      new Option(
        '--log-format <format>',
        "the worker's log: text lines, or json lines (NIGHTSHIFT_LOG_FORMAT)",
      ).choices([...LOG_FORMATS]),
    )
    .option('--json', 'print the final status as JSON')
    .action(async (o: { file: string; json?: boolean; uiPort?: string }) => {
      if (o.uiPort) config.temporal.uiPort = parsePort(o.uiPort);
      await load.demo().runDemo(config, o, print, info);
    });

  registerPlanningCommands(program, config, print, info);
  registerLearningCommands(program, config, print, info);
  registerDeployCommands(program, config, print);
  program.addCommand(scheduleCommand(config, print));

  configureErrors(program);
  return program;
}

export async function main(argv = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    const { message, exitCode } = describeError(err);
    if (message) process.stderr.write(`nightshift: ${message}\n`);
    // A stack is for whoever debugs nightshift, not for its users.
    if (debugStacks() && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    process.exit(exitCode);
  }
}

/** The line a person reads and the documented exit code (docs/cli.md, "Exit codes") for any error. */
export function describeError(err: unknown): { message?: string; exitCode: number } {
  // Commander printed its own message (and the hint) already.
  if (err instanceof CommanderError)
    return {
      exitCode: ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(err.code)
        ? EXIT.ok
        : EXIT.usage,
    };
  if (err instanceof SpecError) return { message: err.message, exitCode: EXIT.invalidSpec };
  if (err instanceof CliError) return { message: err.message, exitCode: err.exitCode };
  // Loaded only now: an error from Temporal means its client is loaded already.
  const { isGrpcServiceError, WorkflowFailedError } = load.temporalClient();
  if (err instanceof WorkflowFailedError) {
    const causes: string[] = [];
    for (let e: unknown = err.cause; e instanceof Error && causes.length < 4; e = e.cause) causes.push(e.message);
    return { message: `the workflow failed: ${causes.join(': ') || err.message}`, exitCode: EXIT.failure };
  }
  if (isGrpcServiceError(err)) {
    // The server refused what was asked (a bad cron, a bad query): the user's input.
    if (err.code === GRPC_INVALID_ARGUMENT) return { message: err.details || err.message, exitCode: EXIT.usage };
    if (err.code === GRPC_UNAVAILABLE)
      return { message: `Temporal is unavailable: ${err.details || err.message}`, exitCode: EXIT.unavailable };
    if (err.code === GRPC_NOT_FOUND) return { message: err.details || err.message, exitCode: EXIT.notFound };
  }
  return { message: err instanceof Error ? err.message : String(err), exitCode: EXIT.failure };
}

/** gRPC status codes. */
const GRPC_INVALID_ARGUMENT = 3;
const GRPC_NOT_FOUND = 5;
const GRPC_UNAVAILABLE = 14;

if (require.main === module) void main();
