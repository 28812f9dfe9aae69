/** Worker variables that must never reach a sandbox, whatever a task file or config says. */
const NEVER_PASS =
  /^(ANTHROPIC_API_KEY|GITHUB_TOKEN|GH_TOKEN|E2B_API_KEY|TELEGRAM_BOT_TOKEN|TEMPORAL_.*|.*(SECRET|TOKEN|PASSWORD|API_KEY|PRIVATE_KEY|WEBHOOK).*)$/i;

export function isSecretEnvName(name: string): boolean {
  return NEVER_PASS.test(name);
}
