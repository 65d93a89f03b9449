import type { Reporter, TestModule } from 'vitest/node';

/**
 * Prints one plain closing line, "N passed, N failed, N skipped", after Vitest's own summary, so any log
 * reader (CI included) can tell how many tests ran without parsing Vitest's coloured output.
 */
export default class PlainSummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    // A file or suite that failed outside any test (a hook timing out, an import error) makes its tests look
    // skipped; count it as a failure so the closing line never reads "0 failed" on a red run.
    let brokenSuites = 0;
    for (const m of modules) {
      if (m.state() === 'failed' && m.errors().length > 0) brokenSuites++;
      for (const s of m.children.allSuites())
        if (s.state() === 'failed' && s.errors().length > 0) brokenSuites++;
    }
    failed += brokenSuites;
    for (const m of modules)
      for (const t of m.children.allTests()) {
        const s = t.result().state;
        if (s === 'passed') passed++;
        else if (s === 'failed') failed++;
        else skipped++;
      }
    // Printed at exit so it is the very last line, after Vitest's own summary.
    process.once('exit', () =>
      process.stdout.write(
        `\n${passed} passed, ${failed} failed, ${skipped} skipped${brokenSuites ? ` (${brokenSuites} suite/file error${brokenSuites > 1 ? 's' : ''} counted as failed)` : ''}\n`,
      ),
    );
  }
}
