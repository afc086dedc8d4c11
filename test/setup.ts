import { init } from '@minnow/core';
import { jsBackend } from '@minnow/backend-js';

// Every suite starts with the reference backend initialised and default.
await init(jsBackend);
