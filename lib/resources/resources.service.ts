import { z } from 'zod';
import { conflict, invalidInput, notFound } from '../http/errors.js';
import type { ResourceQueries, ResourceServerRow } from './resources.queries.js';

/** RFC 6749 §3.3 scope-token */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;

/** Scopes of Latch's own JSON API (its resource identifier is `${issuer}/api/v1`). */
export const LATCH_API_SCOPES = ['api:read', 'api:write'] as const;

const identifierSchema = z
  .string()
  .max(2048)
  .refine((value) => {
    // RFC 8707 §2: an absolute URI with no fragment
    const url = URL.canParse(value) ? new URL(value) : undefined;
    return !!url && !value.includes('#') && /^[a-z][a-z0-9+.-]*:$/.test(url.protocol);
  }, 'must be an absolute URI without a fragment');

const scopesSchema = z
  .array(z.string().regex(SCOPE_TOKEN, 'each scope must be a scope token (no spaces or quotes)'))
  .max(100)
  .transform((scopes) => [...new Set(scopes)]);

const ttlSchema = z.number().int().min(30).max(86400);

export type ResourceServer = {
  identifier: string;
  name: string | null;
  scopes: string[];
  tokenFormat: 'jwt' | 'opaque';
  accessTokenTtl: number | null;
  builtIn: boolean;
};

export type ResourceService = ReturnType<typeof createResourceService>;

function toResource(row: ResourceServerRow): ResourceServer {
  return {
    identifier: row.identifier,
    name: row.name,
    scopes: row.scopes,
    tokenFormat: row.token_format,
    accessTokenTtl: row.access_token_ttl,
    builtIn: false,
  };
}

function parse<T>(schema: z.ZodType<T>, value: unknown, field: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw invalidInput(`${field}: ${result.error.issues[0]?.message ?? 'is invalid'}`);
  return result.data;
}

export function createResourceService(deps: { queries: ResourceQueries; issuer: string }) {
  const { queries, issuer } = deps;
  const latchApi: ResourceServer = {
    identifier: `${issuer}/api/v1`,
    name: 'Latch API',
    scopes: [...LATCH_API_SCOPES],
    tokenFormat: 'jwt',
    accessTokenTtl: null,
    builtIn: true,
  };

  return {
    latchApi,

    async find(identifier: string): Promise<ResourceServer | undefined> {
      if (identifier === latchApi.identifier) return latchApi;
      const row = await queries.find(identifier);
      return row && toResource(row);
    },

    async list(): Promise<ResourceServer[]> {
      return [latchApi, ...(await queries.list()).map(toResource)];
    },

    async add(input: { identifier: string; name?: string; scopes: string[]; tokenFormat?: string; accessTokenTtl?: number }) {
      const identifier = parse(identifierSchema, input.identifier, 'identifier');
      if (identifier === latchApi.identifier || (await queries.find(identifier))) {
        throw conflict(`resource ${identifier} already exists`);
      }
      const row = {
        identifier,
        name: input.name ?? null,
        scopes: parse(scopesSchema, input.scopes, 'scopes'),
        token_format: parse(z.enum(['jwt', 'opaque']), input.tokenFormat ?? 'jwt', 'tokenFormat'),
        access_token_ttl: input.accessTokenTtl === undefined ? null : parse(ttlSchema, input.accessTokenTtl, 'accessTokenTtl'),
      };
      await queries.insert(row);
      return (await this.find(identifier))!;
    },

    async update(identifier: string, input: { name?: string; scopes?: string[]; tokenFormat?: string; accessTokenTtl?: number }) {
      if (identifier === latchApi.identifier) throw invalidInput('the Latch API resource is built in and cannot be changed');
      const changes: Partial<ResourceServerRow> = {};
      if (input.name !== undefined) changes.name = input.name;
      if (input.scopes !== undefined) changes.scopes = parse(scopesSchema, input.scopes, 'scopes');
      if (input.tokenFormat !== undefined) changes.token_format = parse(z.enum(['jwt', 'opaque']), input.tokenFormat, 'tokenFormat');
      if (input.accessTokenTtl !== undefined) changes.access_token_ttl = parse(ttlSchema, input.accessTokenTtl, 'accessTokenTtl');
      if (!(await queries.update(identifier, changes))) throw notFound(`resource ${identifier}`);
      return (await this.find(identifier))!;
    },

    async remove(identifier: string) {
      if (identifier === latchApi.identifier) throw invalidInput('the Latch API resource is built in and cannot be removed');
      if (!(await queries.delete(identifier))) throw notFound(`resource ${identifier}`);
    },
  };
}
