import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mintRefreshTokens, type RefreshTokenOwner } from '../seed/refresh-tokens.js';
import { createCeilingProvider, type CeilingInput } from './ceiling-config.js';
import { announceReady, receive, serveIpc } from './ipc.js';

/** The ceiling server: stock oidc-provider on its own Koa callback, nothing in front. */
const input = await receive<CeilingInput & { port: number }>('init');
const provider = createCeilingProvider(input);
const server = http.createServer(provider.callback());
server.keepAliveTimeout = 65_000;

await new Promise<void>((resolve) => server.listen(input.port, '127.0.0.1', resolve));
const { port } = server.address() as AddressInfo;

serveIpc(
  {
    async 'mint-refresh-tokens'(message) {
      return mintRefreshTokens(provider, message.owners as RefreshTokenOwner[], message.count as number);
    },
  },
  async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  },
);
announceReady(`http://127.0.0.1:${port}`);
