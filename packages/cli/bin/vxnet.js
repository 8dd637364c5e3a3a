#!/usr/bin/env node
// Thin launcher so the bin link exists before the first build; the CLI is compiled to dist/.
import '../dist/src/bin.js';
