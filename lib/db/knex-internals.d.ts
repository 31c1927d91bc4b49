// Knex ships no types for its dialect classes; the PostgreSQL one is extended by
// lib/db/prepared-statements.ts.
declare module 'knex/lib/dialects/postgres/index.js' {
  const ClientPG: unknown;
  export default ClientPG;
}
