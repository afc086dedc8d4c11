#!/usr/bin/env node
// A committed shim so npm can link the bin before `npm run build` has produced dist/.
import '../dist/bin.js';
