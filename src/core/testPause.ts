/**
 * Test only. With KILN_TEST_PAUSE_AT=<point>, kiln stops at that named point, prints
 * `KILN_TEST_PAUSED <point>` on stderr and waits there to be killed: test/e2e/kill.test.ts kills it with
 * SIGKILL at chosen places instead of guessing with sleeps. Unset (always, outside that test), it does
 * nothing. The points: bake:image-written, atomic:old-moved-aside, launchable:written,
 * push:archive-written, registry:upload-started, push:manifest-put.
 */
export async function testPause(point: string): Promise<void> {
  if (process.env.KILN_TEST_PAUSE_AT !== point) return;
  process.stderr.write(`KILN_TEST_PAUSED ${point}\n`);
  await new Promise(() => setInterval(() => {}, 1 << 30));
}
