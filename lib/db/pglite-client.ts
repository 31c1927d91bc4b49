import type { Knex } from 'knex';
import ClientPgLite from 'knex-pglite';

/**
 * knex-pglite derives the statement's command from Knex's method name, so `del()` and
 * `increment()` come back as a result object instead of the row count that Knex's pg dialect
 * returns. Naming them as the statements they are makes both databases answer alike.
 */
const COMMAND_FOR_METHOD: Record<string, string> = { del: 'delete', counter: 'update' };

type ResponseObject = { method?: string };

const Base = ClientPgLite as unknown as new (config: Knex.Config) => { processResponse(obj: ResponseObject, runner: unknown): unknown };

export class PgLiteClient extends Base {
  override processResponse(obj: ResponseObject, runner: unknown) {
    const method = obj.method && COMMAND_FOR_METHOD[obj.method];
    return super.processResponse(method ? { ...obj, method } : obj, runner);
  }
}
