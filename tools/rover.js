#!/usr/bin/env node
// The installed `rover` command: load the TypeScript CLI through tsx (no separate compile step).
import { register } from 'tsx/esm/api';
register();
await import('./rover.ts');
