import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import express from 'express';
import { z } from 'zod';
// Outside this repository: import { … } from 'latch/resource-server';
import { createResourceServer, expressMetadata, expressProtect, type AuthInfo } from '../../lib/resource-server/index.js';

/**
 * An MCP server (Streamable HTTP, stateless) protected by Latch. Every MCP request needs a
 * token whose audience is this server and which carries the `mcp:tools` scope; MCP clients
 * find Latch through the 401's `resource_metadata` (RFC 9728).
 */
export const TOOLS_SCOPE = 'mcp:tools';

export type ExampleServerOptions = {
  /** Latch's issuer, e.g. http://localhost:3000 */
  issuer: string;
  /** this server's public URL of the MCP endpoint, registered in Latch as a resource */
  resource: string;
  port?: number;
  host?: string;
};

function buildMcpServer(auth: AuthInfo | undefined) {
  const server = new McpServer({ name: 'latch-example', version: '1.0.0' });
  server.registerTool(
    'whoami',
    { description: 'Who the token belongs to, and what it may do', inputSchema: {} },
    async () => ({
      content: [{ type: 'text', text: JSON.stringify({ sub: auth?.extra.sub, clientId: auth?.clientId, scopes: auth?.scopes }) }],
    }),
  );
  server.registerTool(
    'add',
    { description: 'Adds two numbers', inputSchema: { a: z.number(), b: z.number() } },
    async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }),
  );
  return server;
}

export async function startExampleServer(options: ExampleServerOptions) {
  const rs = createResourceServer({
    issuer: options.issuer,
    resource: options.resource,
    scopesSupported: [TOOLS_SCOPE],
    requiredScopes: [TOOLS_SCOPE],
    resourceName: 'Latch example MCP server',
  });
  const mcpPath = new URL(options.resource).pathname;

  const app = express();
  app.use(expressMetadata(rs));
  app.use(express.json({ limit: '1mb' }));
  app.all(mcpPath, expressProtect(rs), async (req, res) => {
    // stateless: one MCP server and transport per request
    const server = buildMcpServer((req as { auth?: AuthInfo }).auth);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });

  const listener: http.Server = await new Promise((resolve) => {
    const s = app.listen(options.port ?? 3001, options.host ?? '127.0.0.1', () => resolve(s));
  });
  const { port } = listener.address() as AddressInfo;
  return {
    port,
    resourceServer: rs,
    close: () => new Promise<void>((resolve) => {
      listener.closeAllConnections();
      listener.close(() => resolve());
    }),
  };
}

// `node --import tsx examples/mcp-server/server.ts`
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const issuer = process.env.LATCH_ISSUER ?? 'http://localhost:3000';
  const resource = process.env.MCP_RESOURCE ?? 'http://localhost:3001/mcp';
  const { port } = await startExampleServer({ issuer, resource, port: Number(new URL(resource).port || 3001) });
  console.log(`MCP server on port ${port}: ${resource} (authorization server ${issuer})`);
}
