#!/usr/bin/env node
// A committed entry, so package managers can link the bin before the TypeScript is built.
import '../dist/bin.js';
