// Preloaded into rnnkit's bench process by bench/peers/run.ts (`node --import .../cpu-probe.js
// dist/bench/bench.js ...`): at exit it prints the process's CPU time and wall time on stderr, so
// the peer table can show how many cores rnnkit kept busy (CPU time / wall time) without touching
// bench/bench.ts. Covers the whole process (setup, warm-up and timed steps).
process.on('exit', () => {
  const c = process.cpuUsage();
  process.stderr.write(`\n@@cpu-probe ${JSON.stringify({ cpuMs: (c.user + c.system) / 1000, wallMs: performance.now() })}\n`);
});
