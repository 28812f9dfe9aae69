/** bash and search: commands run in the sandbox, with the safety policy checked first. */
import { checkCommandInSandbox, resolveInWorkspace } from '../../../sandbox/policy';
import { cleanPath, fail, ok, shellQuote, str, type ToolContext, type ToolOutcome } from './context';
import { oneLine, truncateMiddle } from './truncate';

/** @default 5 minutes; the model may ask for up to 30. */
export const DEFAULT_BASH_TIMEOUT_MS = 300_000;
const MAX_BASH_TIMEOUT_MS = 1_800_000;

export async function bashTool(input: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutcome> {
  const command = str(input, 'command');
  // Throws PolicyViolation (non-retryable): the task halts and the report says which rule.
  // package.json scripts and script files it runs are read through the sandbox.
  await checkCommandInSandbox(command, ctx.policy, ctx.workspaceRoot, ctx.sandbox);
  const asked = typeof input.timeout_seconds === 'number' ? input.timeout_seconds * 1000 : undefined;
  const timeoutMs = Math.min(
    MAX_BASH_TIMEOUT_MS,
    Math.max(1000, asked ?? ctx.bashTimeoutMs ?? DEFAULT_BASH_TIMEOUT_MS),
  );
  const r = await ctx.sandbox.exec(command, { timeoutMs, signal: ctx.signal, onOutput: ctx.onOutput });
  const max = ctx.maxOutputChars;
  const parts = [
    `exit code: ${r.exitCode}${r.timedOut ? ` (killed after the ${Math.round(timeoutMs / 1000)} s timeout)` : ''}`,
  ];
  // Each stream gets its own share of the cap, so a noisy stdout cannot hide stderr.
  const share = max === undefined ? undefined : Math.floor(max / 2);
  if (r.stdout) parts.push(`stdout:\n${truncateMiddle(r.stdout, share)}`);
  if (r.stderr) parts.push(`stderr:\n${truncateMiddle(r.stderr, share)}`);
  const summary = `bash ${oneLine(command, 80)} → ${r.timedOut ? 'timed out' : `exit ${r.exitCode}`}`;
  return r.exitCode === 0 && !r.timedOut ? ok(parts.join('\n'), summary) : fail(parts.join('\n'), summary);
}

export async function searchTool(input: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutcome> {
  const pattern = str(input, 'pattern');
  const where = cleanPath(input.path, '.');
  // Like read_file: a path (or a symlink) leading out of the workspace breaks the policy.
  resolveInWorkspace(ctx.workspaceRoot, where);
  const glob = typeof input.glob === 'string' && input.glob ? input.glob : undefined;
  const i = input.ignore_case === true;
  const rg = [
    'rg',
    '--line-number',
    '--no-heading',
    '--color',
    'never',
    '--max-columns',
    '300',
    ...(i ? ['-i'] : []),
    ...(glob ? ['--glob', glob] : []),
    '-e',
    pattern,
    '--',
    where,
  ];
  const grep = [
    'grep',
    '-rnIE',
    ...(i ? ['-i'] : []),
    '--exclude-dir=.git',
    '--exclude-dir=node_modules',
    ...(glob ? [`--include=${glob}`] : []),
    '-e',
    pattern,
    '--',
    where,
  ];
  const q = (words: string[]) => words.map(shellQuote).join(' ');
  // ripgrep when the sandbox has it, grep otherwise; both exit 1 for "no matches".
  const cmd = `if command -v rg >/dev/null 2>&1; then ${q(rg)}; else ${q(grep)}; fi`;
  const r = await ctx.sandbox.exec(cmd, { timeoutMs: 60_000, signal: ctx.signal });
  if (r.exitCode === 1 && !r.stderr.trim())
    return ok(`No matches for /${pattern}/ in ${where}.`, `search /${oneLine(pattern, 60)}/: no matches`);
  if (r.exitCode !== 0 && r.exitCode !== 1)
    return fail(
      `search failed (exit ${r.exitCode}): ${truncateMiddle(r.stderr, 2000)}`,
      `search /${oneLine(pattern, 60)}/: failed`,
    );
  const matches = r.stdout.split('\n').filter(Boolean).length;
  return ok(truncateMiddle(r.stdout, ctx.maxOutputChars), `search /${oneLine(pattern, 60)}/: ${matches} lines`);
}
