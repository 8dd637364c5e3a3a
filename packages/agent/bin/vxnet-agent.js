#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --optimize-for-size
// Memory, on every host that runs this file (systemd, PATH, `npm i -g`): the agent is a
// long-lived daemon whose work comes in bursts (a join, a flap), not a throughput
// server. Measured (bench/results/agent-rss.md, 1,000 hosts × 10 networks):
// - --optimize-for-size: V8's memory-saving mode (what it uses for background tabs):
//   semi-spaces of 1 MB instead of growing to 16 MB (the young generation alone was
//   32 MB of RSS after one burst), slower old-space growth, compaction when idle;
// - MALLOC_ARENA_MAX=2: glibc otherwise gives each of V8's and libuv's threads its own
//   malloc arena, each keeping the pages it once used.
// `node bin/vxnet-agent.js` (the lab, tests) skips this line and runs with Node's defaults.
import "../dist/src/main.js";
