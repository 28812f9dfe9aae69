/**
 * Notifications from workflow code, best effort: a send never blocks the work and never
 * fails it. Undelivered notifications become notes for the report.
 *
 * Deterministic code only.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { notifyCall } from './activity-profiles';
import { domainError } from './domain-error';
import type { NotifyEvent, NotifySettings } from '../contract';

const { notify } = proxyActivities<Activities>(notifyCall());

export class Notifier {
  private readonly pending: Promise<void>[] = [];

  constructor(
    private readonly base: { workflowId: string; batchId: string; taskId?: string; settings?: NotifySettings },
    /** Where failures are written (the task's or batch's notes). */
    private readonly notes: string[],
  ) {}

  /** Starts sending; `key` makes it happen once per workflow even if the activity is retried. */
  send(event: NotifyEvent, key: string, title: string, text: string, data?: Record<string, unknown>): void {
    const sending = notify({ ...this.base, key, event, title, text, data }).then(
      (r) => {
        for (const f of r.failed)
          this.notes.push(`notification "${title}" was not delivered by ${f.channel}: ${f.error}`);
      },
      (err: unknown) => {
        this.notes.push(`notification "${title}" was not sent: ${domainError(err).message}`);
      },
    );
    this.pending.push(sending);
  }

  /** Waits for every send started so far (before the workflow ends or continues as new). */
  async flush(): Promise<void> {
    await Promise.all(this.pending.splice(0));
  }
}
