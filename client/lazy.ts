/**
 * What the CLI's commands need, loaded when one runs. At start-up the Temporal SDKs, the
 * worker and the activities would cost seconds that `--help` or `validate` never use
 * (BENCHMARKS.md, "CLI start-up"), so the command files import only types and this table.
 *
 * `require`, not `import()`: under the bin's CommonJS loader (client/bin.js) `import()`
 * does not resolve a .ts file. Each entry keeps the module's own type.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
export const load = {
  batch: () => require('./commands/batch') as typeof import('./commands/batch'),
  batchResults: () => require('../activities/night/results') as typeof import('../activities/night/results'),
  batches: () => require('./batches') as typeof import('./batches'),
  contract: () => require('../contract') as typeof import('../contract'),
  demo: () => require('./commands/demo') as typeof import('./commands/demo'),
  estimate: () => require('./commands/estimate') as typeof import('./commands/estimate'),
  followup: () => require('./commands/followup') as typeof import('./commands/followup'),
  insights: () => require('../activities/learning/insights') as typeof import('../activities/learning/insights'),
  intake: () => require('./commands/intake') as typeof import('./commands/intake'),
  lessons: () => require('../activities/learning/store') as typeof import('../activities/learning/store'),
  ledger: () => require('./commands/ledger') as typeof import('./commands/ledger'),
  log: () => require('../worker/log') as typeof import('../worker/log'),
  modelClient: () => require('../activities/model/client') as typeof import('../activities/model/client'),
  models: () => require('./commands/models') as typeof import('./commands/models'),
  modelsFile: () => require('../common/models-file') as typeof import('../common/models-file'),
  plan: () => require('./commands/plan') as typeof import('./commands/plan'),
  prompt: () => require('../activities/task/prompt') as typeof import('../activities/task/prompt'),
  questions: () => require('./commands/questions') as typeof import('./commands/questions'),
  report: () => require('../activities/night/report') as typeof import('../activities/night/report'),
  schedule: () => require('./commands/schedule') as typeof import('./commands/schedule'),
  server: () => require('./server') as typeof import('./server'),
  skills: () => require('../activities/learning/skills') as typeof import('../activities/learning/skills'),
  specs: () => require('../activities/night/spec') as typeof import('../activities/night/spec'),
  store: () => require('../common/store') as typeof import('../common/store'),
  telegram: () => require('./commands/telegram') as typeof import('./commands/telegram'),
  temporal: () => require('./temporal') as typeof import('./temporal'),
  temporalClient: () => require('@temporalio/client') as typeof import('@temporalio/client'),
  validate: () => require('./commands/validate') as typeof import('./commands/validate'),
  worker: () => require('../worker/main') as typeof import('../worker/main'),
  workers: () => require('./workers') as typeof import('./workers'),
};
/* eslint-enable @typescript-eslint/no-require-imports */
