#!/usr/bin/env node
// Copies the dashboard's static files beside the compiled code (tsc copies only .ts output), so
// dist/frontends/http/dashboard-assets.js finds them where src/ has them.
import { cpSync, rmSync } from 'node:fs';

const from = 'src/frontends/http/dashboard';
const to = 'dist/frontends/http/dashboard';
rmSync(to, { recursive: true, force: true });
cpSync(from, to, { recursive: true });
