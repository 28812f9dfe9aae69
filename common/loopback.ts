/**
 * Listening on 127.0.0.1 at a free port, for the local HTTP servers nightshift runs (the
 * offline replay model) and the API fakes its tests run. `close()` also ends keep-alive
 * connections the SDK clients hold open, which would otherwise keep it waiting.
 */
import type * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export async function listenOnLoopback(server: http.Server): Promise<{ port: number; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
