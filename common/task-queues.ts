/**
 * Task queue names besides the public `nightshift` queue (config.ts TASK_QUEUE).
 *
 * Each worker also polls a queue of its own (Temporal's worker-specific task queue
 * pattern): creating a local sandbox returns it, and every activity that touches that
 * sandbox is scheduled there, because the sandbox is a directory on that host's disk.
 */
import { TASK_QUEUE } from './config';

/** The queue of the worker(s) with host ID `hostId` (NightshiftConfig.hostId). */
export function hostTaskQueue(hostId: string): string {
  return `${TASK_QUEUE}@${hostId}`;
}
