/**
 * `latch/resource-server`: protect an API or MCP server with Latch.
 *
 *   const rs = createResourceServer({ issuer: 'https://id.example.com', resource: 'https://mcp.example.com/mcp', scopesSupported: ['mcp:tools'], requiredScopes: ['mcp:tools'] });
 *   http.createServer(protectNode(rs, (req, res) => res.end(`hello ${req.auth!.extra.sub}`)));
 */
export { createResourceServer, type AuthInfo, type AuthResult, type ResourceServer, type ResourceServerOptions } from './resource-server.js';
export { bearerChallenge, type Refusal } from './challenge.js';
export { readCredential, type Credential, type HeaderBag } from './credentials.js';
export {
  authenticateNode,
  expressMetadata,
  expressProtect,
  koaMetadata,
  koaProtect,
  protectNode,
  serveMetadata,
  type AuthenticatedRequest,
  type ProtectOptions,
} from './adapters.js';
