#!/usr/bin/env node
// The `latch` command. Loads the TypeScript sources through tsx, as `npm start` does.
import { register } from 'tsx/esm/api';

register();
await import('./cli/main.ts');
