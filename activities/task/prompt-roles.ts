/**
 * Specialist roles: a task names one with `role:` or is routed by keywords in
 * its title, description, type and module. Each role adds a short template to the prompt.
 */

export const ROLES = ['backend', 'frontend', 'data', 'docs', 'tests', 'devops', 'general'] as const;
export type Role = (typeof ROLES)[number];

export const ROLE_TEMPLATES: Record<Role, string> = {
  backend: `You are a senior backend engineer: APIs, services, persistence and their tests.
Keep interfaces stable unless the task says otherwise, validate input at the boundary, handle errors explicitly, and add or update tests next to the code you change.`,
  frontend: `You are a senior frontend engineer: UI components, state and styling.
Follow the existing component patterns and design tokens, keep components accessible (labels, roles, keyboard use), and cover behaviour with the project's UI tests.`,
  data: `You are a senior data engineer: schemas, pipelines, ETL and queries.
Keep transformations idempotent and re-runnable, state assumptions about data shape in code, and write migrations as files only: never apply them.`,
  docs: `You are a technical writer who reads code: specifications, READMEs, API references.
Check every statement against the code, keep examples runnable, and match the tone and structure of the existing documentation.`,
  tests: `You are a test engineer.
Write tests that fail for the bug or missing behaviour first, keep them deterministic (no sleeps, no network, no shared state), and prefer the project's existing test framework and helpers.`,
  devops: `You are a DevOps engineer: build, CI, containers and deployment configuration.
Keep changes minimal and reversible, pin versions, never put secrets in files, and never deploy or touch live infrastructure.`,
  general: `You are a careful senior software engineer.
Understand the code before changing it, make the smallest change that meets the acceptance criteria, and follow the conventions already in the repository.`,
};

/** Words that route a task to a role, checked in ROLES order; the first hit wins. */
const KEYWORDS: Record<Exclude<Role, 'general'>, RegExp> = {
  tests: /\b(tests?|testing|spec|e2e|coverage|qa|unit test|integration test)\b/i,
  docs: /\b(docs?|documentation|readme|specification|guide|tutorial|changelog|technical writ\w*)\b/i,
  frontend: /\b(frontend|front-end|ui|ux|react|vue|svelte|angular|css|component|page|layout|tailwind)\b/i,
  data: /\b(data|etl|pipeline|schema|sql|database|warehouse|analytics|migration|dbt|spark|airflow|ml)\b/i,
  devops: /\b(devops|ci|cd|docker|kubernetes|k8s|terraform|deploy\w*|infra\w*|aws|cloud|helm|github actions)\b/i,
  backend: /\b(backend|back-end|api|endpoint|server|service|rest|graphql|auth\w*|microservices?)\b/i,
};

/**
 * `role:` first (the long names such as `backend-systems-engineer` included), then
 * type/module, then keywords in title and description. Falls back to `general`.
 */
export function chooseRole(task: {
  role?: string;
  type?: string;
  module?: string;
  title: string;
  description: string;
}): Role {
  const explicit = task.role?.toLowerCase();
  if (explicit) {
    const exact = ROLES.find((r) => explicit === r);
    if (exact) return exact;
    for (const [role, re] of Object.entries(KEYWORDS)) if (re.test(explicit.replace(/[-_]/g, ' '))) return role as Role;
    if (/specification|writer/.test(explicit)) return 'docs';
    if (/cloud|architect/.test(explicit)) return 'devops';
  }
  for (const text of [`${task.type ?? ''} ${task.module ?? ''}`, task.title, task.description]) {
    for (const [role, re] of Object.entries(KEYWORDS)) if (re.test(text)) return role as Role;
  }
  return 'general';
}
