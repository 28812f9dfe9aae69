/**
 * Loopback HTTP servers standing in for Telegram's Bot API, a Slack incoming webhook and a
 * generic webhook. They speak the real wire format (JSON POSTs, Telegram's `{ ok, result }`)
 * and record every request; `failWith` makes one answer with an error status, and
 * `rateLimit` makes the first requests answer 429 as each service does (a Retry-After
 * header; Telegram also says `parameters.retry_after` in the body).
 *
 * The Telegram one also serves getUpdates as the Bot API does: updates from `offset` on
 * (an earlier offset confirms and forgets them), waiting up to `timeout` seconds for one
 * to arrive. `reply()` queues a person's reply to a message the bot sent.
 */
import * as http from 'node:http';
import { listenOnLoopback } from '../../common/loopback';

export interface RecordedRequest {
  method: string;
  path: string;
  body: Record<string, unknown>;
  /** Date.now() when it arrived, to check a client waited as long as it was told. */
  receivedAt: number;
}

export interface TelegramUpdate {
  update_id: number;
  message: {
    message_id: number;
    chat: { id: number | string };
    from: { id: number; is_bot: boolean; first_name: string };
    date: number;
    text: string;
    reply_to_message?: {
      message_id: number;
      chat: { id: number | string };
      from: { id: number; is_bot: boolean; first_name: string };
      date: number;
      text: string;
    };
  };
}

export interface RecordingServer {
  url: string;
  requests: RecordedRequest[];
  /** Telegram: queues a person's reply to the bot's message `to` (a sendMessage request this server answered). */
  reply(to: RecordedRequest, text: string): TelegramUpdate;
  /** Telegram: updates not yet confirmed by a getUpdates offset. */
  pendingUpdates(): TelegramUpdate[];
  /** Resolves once a request matches. */
  waitFor(match: (r: RecordedRequest) => boolean): Promise<RecordedRequest>;
  close(): Promise<void>;
}

export interface RateLimit {
  /** How many requests are refused before the server answers normally. */
  times: number;
  retryAfterSeconds: number;
  /** Say it in the Retry-After header. @default true */
  header?: boolean;
}

export async function startRecordingServer(o: {
  kind: 'telegram' | 'slack' | 'webhook';
  failWith?: number;
  rateLimit?: RateLimit;
}): Promise<RecordingServer> {
  let refusals = o.rateLimit?.times ?? 0;
  const requests: RecordedRequest[] = [];
  const waiters: { match: (r: RecordedRequest) => boolean; resolve: (r: RecordedRequest) => void }[] = [];
  let messageId = 100;
  let updateId = 5000;
  let updates: TelegramUpdate[] = [];
  const polls: (() => void)[] = [];
  const sentIds = new Map<RecordedRequest, number>();
  const person = { id: 77, is_bot: false, first_name: 'Night Owl' };
  const bot = { id: 1, is_bot: true, first_name: 'nightshift' };
  const json = (res: http.ServerResponse, body: unknown) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));

  const getUpdates = (body: Record<string, unknown>, res: http.ServerResponse) => {
    const offset = Number(body.offset ?? 0);
    if (offset > 0) updates = updates.filter((u) => u.update_id >= offset);
    const answer = () => json(res, { ok: true, result: updates.slice(0, Number(body.limit ?? 100)) });
    const waitS = Number(body.timeout ?? 0);
    if (updates.length || waitS <= 0) return answer();
    // Long poll: answer when an update arrives or the timeout passes, whichever is first.
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      answer();
    };
    const timer = setTimeout(finish, waitS * 1000);
    polls.push(finish);
    res.on('close', finish);
  };

  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString()));
    req.on('end', () => {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(data) as Record<string, unknown>;
      } catch {
        body = { raw: data };
      }
      const rec = { method: req.method ?? '', path: req.url ?? '', body, receivedAt: Date.now() };
      requests.push(rec);
      for (const w of waiters.filter((x) => x.match(rec))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(rec);
      }
      if (o.rateLimit && refusals > 0) {
        refusals--;
        const seconds = o.rateLimit.retryAfterSeconds;
        const headers = {
          'content-type': 'application/json',
          ...(o.rateLimit.header === false ? {} : { 'retry-after': String(seconds) }),
        };
        const body =
          o.kind === 'telegram'
            ? {
                ok: false,
                error_code: 429,
                description: `Too Many Requests: retry after ${seconds}`,
                parameters: { retry_after: seconds },
              }
            : { error: 'rate_limited' };
        res.writeHead(429, headers).end(JSON.stringify(body));
        return;
      }
      if (o.failWith) {
        res
          .writeHead(o.failWith, { 'content-type': 'application/json' })
          .end(JSON.stringify({ ok: false, description: 'failing on purpose' }));
        return;
      }
      if (o.kind === 'telegram' && rec.path.endsWith('/getUpdates')) {
        getUpdates(body, res);
      } else if (o.kind === 'telegram') {
        const id = messageId++;
        sentIds.set(rec, id);
        json(res, {
          ok: true,
          result: {
            message_id: id,
            from: bot,
            chat: { id: body.chat_id },
            date: Math.floor(Date.now() / 1000),
            text: body.text,
          },
        });
      } else if (o.kind === 'slack') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      } else {
        res.writeHead(204).end();
      }
    });
  });
  const { port, close } = await listenOnLoopback(server);
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    reply(to, text) {
      const id = sentIds.get(to);
      if (id === undefined) throw new Error('reply(): that request was not a sendMessage this server answered');
      const chat = { id: to.body.chat_id as string };
      const date = Math.floor(Date.now() / 1000);
      const u: TelegramUpdate = {
        update_id: updateId++,
        message: {
          message_id: messageId++,
          chat,
          from: person,
          date,
          text,
          reply_to_message: { message_id: id, chat, from: bot, date, text: String(to.body.text) },
        },
      };
      updates.push(u);
      for (const wake of polls.splice(0)) wake();
      return u;
    },
    pendingUpdates: () => [...updates],
    waitFor(match) {
      const hit = requests.find(match);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
    close,
  };
}
