'use strict';
// `npm test`: system packages → build (tsc, fail fast) → lint → unit tests → e2e tests once per Homebridge line
// (1.x on Node 20, 2.x on the bundled Node 22). Ends with exactly one line "N passed, N failed[, N skipped]" summing
// every mocha run plus failed checks (lint, crashed runs, leftover processes); exits non-zero on any failure or when
// no test ran. Plain JavaScript: it runs before anything is compiled.
//
// Knobs: COURTYARD_TEST_ONLY=unit|e2e, COURTYARD_HB_LINES=1,2, COURTYARD_LINT=0 (skip lint), COURTYARD_KEEP_TMP=1
// (keep e2e storage dirs); extra arguments go to every mocha run, e.g. `npm test -- --grep accessories`.
const { spawn, spawnSync } = require('node:child_process');
const { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { delimiter, join, relative, sep } = require('node:path');

const ROOT = join(__dirname, '..');
const BUILD_TEST_DIR = join(ROOT, '.build', 'test');
const NODE22 = join(ROOT, 'node_modules', 'node22', 'bin', 'node');
/** Every mocha run and all it spawns carry this in the environment, so leftovers can be found and killed precisely. */
const RUN_ENV = 'COURTYARD_TEST_RUN';
const RUN_ID = `${process.pid}-${Date.now().toString(36)}`;
const UNIT_RUN_TIMEOUT_MS = 5 * 60 * 1000;
const E2E_RUN_TIMEOUT_MS = 10 * 60 * 1000;
const TOOL_TIMEOUT_MS = 5 * 60 * 1000;
/** Unit test files run side by side in this many mocha workers (each file still runs its tests in order). */
const UNIT_JOBS = 2;

const bin = {
  tsc: join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
  eslint: join(ROOT, 'node_modules', 'eslint', 'bin', 'eslint.js'),
  mocha: join(ROOT, 'node_modules', 'mocha', 'bin', 'mocha.js'),
};

const totals = { passed: 0, failed: 0, skipped: 0, ran: 0 };
const failedChecks = [];
const running = new Set(); // child processes running right now (to forward Ctrl-C to)
let interrupted = false;

function heading(text) {
  console.log(`\n=== ${text} ===`);
}

function seconds(since) {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

function failCheck(what) {
  failedChecks.push(what);
  totals.failed++;
  console.log(`✖ ${what}`);
}

function finish() {
  if (interrupted) {
    failedChecks.push('interrupted');
    totals.failed++;
  }
  if (totals.ran === 0 && totals.failed === 0) {
    failedChecks.push('no test ran');
    totals.failed++;
  }
  if (failedChecks.length > 0) {
    console.log(`\nFailed checks:\n${failedChecks.map((c) => `  - ${c}`).join('\n')}`);
  }
  const skipped = totals.skipped > 0 ? `, ${totals.skipped} skipped` : '';
  console.log(`${totals.passed} passed, ${totals.failed} failed${skipped}`);
  process.exitCode = totals.failed > 0 ? 1 : 0;
}

/**
 * Run a command (argument array, no shell) in its own process group, bounded by timeoutMs (then the whole group is
 * killed). With capture, output is collected and returned instead of shown.
 */
function run(command, args, { capture = false, env = process.env, timeoutMs }) {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      env,
      detached: true, // own process group: a timeout or Ctrl-C reaches everything it started
      stdio: capture ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'],
    });
    running.add(child);
    let output = '';
    let timedOut = false;
    child.stdout?.on('data', (d) => (output += d));
    child.stderr?.on('data', (d) => (output += d));
    const killGroup = (signal) => {
      try {
        process.kill(-child.pid, signal);
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      setTimeout(() => killGroup('SIGKILL'), 10_000).unref();
    }, timeoutMs);
    child.once('error', (err) => {
      output += `\n${err.message}`;
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code: code ?? 1, signal, timedOut, output });
    });
  });
}

function forwardInterrupt(signal) {
  interrupted = true;
  for (const child of running) {
    try {
      process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  }
}

function nodeVersion(nodePath) {
  const r = spawnSync(nodePath, ['-p', 'process.version'], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/**
 * The Node that unit tests and Homebridge 1.x run on: the project's baseline, Node 20. `npm test` may have started us
 * on the bundled Node 22, because the node22 package links node_modules/.bin/node and npm puts that first on PATH; npm
 * tells us which node runs npm itself, and PATH without node_modules is the next place to look.
 */
function baselineNode() {
  const fromPath = (process.env.PATH ?? '').split(delimiter)
    .filter((dir) => dir && !dir.includes(`${sep}node_modules${sep}`))
    .map((dir) => join(dir, 'node'));
  const candidates = [...new Set([process.execPath, process.env.npm_node_execpath, ...fromPath])]
    .filter((candidate) => candidate && existsSync(candidate));
  for (const candidate of candidates) {
    const version = nodeVersion(candidate);
    if (version?.startsWith('v20.')) {
      return { path: candidate, version };
    }
  }
  console.log(`(no Node 20 found: unit tests and Homebridge 1.x run on ${process.version})`);
  return { path: process.execPath, version: process.version };
}

function checkSystemDeps() {
  const file = join(__dirname, 'system-deps.js');
  if (!existsSync(file)) {
    console.log('(tools/system-deps.js not present: skipping the system package check)');
    return true;
  }
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  try {
    require(file).ensureSystemDeps({ install: process.env.CI === 'true' || isRoot, tests: true });
    console.log('ffmpeg, ffprobe, GStreamer RTSP server: present');
    return true;
  } catch (err) {
    console.log(err.message);
    return false;
  }
}

async function buildAndLint() {
  const started = Date.now();
  const lintTargets = ['src', 'test', 'tools', 'bench', 'homebridge-ui'].filter((dir) => existsSync(join(ROOT, dir)));
  const lintWanted = process.env.COURTYARD_LINT !== '0';
  // The three are independent: run them side by side, report in a fixed order.
  const [plugin, all, lint] = await Promise.all([
    run(process.execPath, [bin.tsc, '-p', 'tsconfig.build.json'], { capture: true, timeoutMs: TOOL_TIMEOUT_MS }),
    run(process.execPath, [bin.tsc, '-p', 'tsconfig.json'], { capture: true, timeoutMs: TOOL_TIMEOUT_MS }),
    lintWanted
      ? run(process.execPath, [bin.eslint, '--max-warnings', '0', ...lintTargets], { capture: true, timeoutMs: TOOL_TIMEOUT_MS })
      : Promise.resolve(undefined),
  ]);
  let buildOk = true;
  for (const [name, result] of [['tsc -p tsconfig.build.json (plugin → dist/)', plugin], ['tsc -p tsconfig.json (all → .build/)', all]]) {
    if (result.code !== 0) {
      buildOk = false;
      console.log(`${name} failed${result.timedOut ? ' (timed out)' : ''}:\n${result.output.trim()}`);
    }
  }
  if (lint === undefined) {
    console.log('lint skipped (COURTYARD_LINT=0)');
  } else if (lint.code !== 0) {
    console.log(lint.output.trim());
    failCheck(`eslint --max-warnings 0 ${lintTargets.join(' ')}${lint.timedOut ? ' (timed out)' : ''}`);
  } else {
    console.log(`eslint ${lintTargets.join(' ')}: clean`);
  }
  console.log(`build${buildOk ? '' : ' FAILED'} and lint: ${seconds(started)}`);
  return buildOk;
}

/** Compiled test files under dir whose TypeScript source still exists (.build keeps outputs of deleted tests). */
function compiledTests(dir, accept) {
  const found = [];
  const walk = (d) => {
    if (!existsSync(d)) {
      return;
    }
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, entry.name);
      if (entry.isDirectory()) {
        walk(full);
      } else if (entry.name.endsWith('.test.js') && accept(full)) {
        const source = join(ROOT, relative(join(ROOT, '.build'), full)).replace(/\.js$/, '.ts');
        if (existsSync(source)) {
          found.push(full);
        }
      }
    }
  };
  walk(dir);
  return found.sort();
}

function readStats(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Processes started by this test run that are still alive (found by the environment tag every child inherits). */
function leftoverProcesses() {
  const needle = `${RUN_ENV}=${RUN_ID}`;
  const found = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) {
      continue;
    }
    try {
      if (!readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(needle)) {
        continue;
      }
      const state = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.[0];
      if (state === 'Z') {
        continue; // already dead, waiting to be reaped
      }
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      found.push({ pid: Number(entry), cmd: cmd.replace(/(\/\/[^:/@\s]+):[^@\s]*@/g, '$1:***@') });
    } catch {
      // exited meanwhile, or not readable: not ours
    }
  }
  return found;
}

async function mochaRun({ title, node, files, env, timeoutMs, extraArgs }) {
  heading(title);
  if (files.length === 0) {
    console.log('(no test files)');
    return;
  }
  const started = Date.now();
  const statsDir = mkdtempSync(join(tmpdir(), 'courtyard-mocha-'));
  const statsFile = join(statsDir, 'stats.json');
  const args = [
    bin.mocha,
    '--reporter', join(ROOT, 'test', 'reporter.js'),
    '--exit', // a forgotten handle must not hang CI; leaked processes are caught below instead
    ...(process.env.CI === 'true' ? ['--forbid-only'] : []),
    ...extraArgs,
    ...process.argv.slice(2),
    ...files,
  ];
  const result = await run(node, args, {
    env: { ...process.env, ...env, [RUN_ENV]: RUN_ID, COURTYARD_MOCHA_STATS: statsFile },
    timeoutMs,
  });
  const stats = readStats(statsFile);
  rmSync(statsDir, { recursive: true, force: true });
  if (stats) {
    totals.passed += stats.passes;
    totals.failed += stats.failures;
    totals.skipped += stats.pending;
    totals.ran += stats.passes + stats.failures;
  }
  if (result.timedOut) {
    failCheck(`${title}: still running after ${timeoutMs / 1000} s, killed`);
  } else if (!stats) {
    failCheck(`${title}: mocha ended (exit ${result.code}${result.signal ? `, ${result.signal}` : ''}) without reporting results`);
  } else if (result.code !== 0 && stats.failures === 0) {
    failCheck(`${title}: mocha exited ${result.code} with no failed test`);
  }
  const leftovers = leftoverProcesses();
  if (leftovers.length > 0) {
    for (const proc of leftovers) {
      try {
        process.kill(proc.pid, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
    failCheck(`${title}: processes left running (killed): ${leftovers.map((p) => `${p.pid} ${p.cmd}`).join('; ')}`);
  }
  console.log(`${title}: ${seconds(started)}`);
}

function e2eLines() {
  const lines = (process.env.COURTYARD_HB_LINES ?? '1,2').split(',').map((s) => s.trim()).filter(Boolean);
  for (const line of lines) {
    if (line !== '1' && line !== '2') {
      throw new Error(`COURTYARD_HB_LINES must list 1 and/or 2, got "${process.env.COURTYARD_HB_LINES}"`);
    }
  }
  return lines;
}

async function main() {
  const started = Date.now();
  const only = process.env.COURTYARD_TEST_ONLY;
  if (only !== undefined && only !== 'unit' && only !== 'e2e') {
    throw new Error(`COURTYARD_TEST_ONLY must be unit or e2e, got "${only}"`);
  }
  const lines = e2eLines();
  process.on('SIGINT', forwardInterrupt);
  process.on('SIGTERM', forwardInterrupt);
  process.on('SIGHUP', forwardInterrupt);

  const baseline = baselineNode();

  heading('system packages');
  if (!checkSystemDeps()) {
    failCheck('system packages missing');
    return;
  }

  heading('build and lint');
  if (!(await buildAndLint())) {
    failCheck('type check / build');
    return;
  }

  if (only !== 'e2e' && !interrupted) {
    const files = compiledTests(BUILD_TEST_DIR, (f) => !f.startsWith(join(BUILD_TEST_DIR, 'e2e') + sep) && !f.endsWith('.e2e.test.js'));
    await mochaRun({
      title: `unit tests (node ${baseline.version})`,
      node: baseline.path,
      files,
      env: {},
      timeoutMs: UNIT_RUN_TIMEOUT_MS,
      // Two workers: most unit files wait on real servers and processes (GStreamer, ffmpeg, sockets) rather than compute,
      // so two files side by side take 0.6 of the time on two cores (200 -> 124 s measured on a loaded machine).
      extraArgs: ['--timeout', '10000', '--parallel', '--jobs', String(UNIT_JOBS)],
    });
  }

  if (only !== 'unit') {
    const files = compiledTests(join(BUILD_TEST_DIR, 'e2e'), (f) => f.endsWith('.e2e.test.js'));
    const hooks = join(BUILD_TEST_DIR, 'e2e', 'rig', 'hooks.js');
    for (const line of lines) {
      if (interrupted) {
        break;
      }
      // Mocha runs on the baseline Node both times: the rig starts Homebridge 1.x with mocha's own Node and 2.x
      // (which requires Node >= 22) with the bundled Node 22.
      const hbNode = line === '1' ? `node ${baseline.version}` : relative(ROOT, NODE22);
      await mochaRun({
        title: `e2e tests, Homebridge ${line}.x (homebridge runs on ${hbNode})`,
        node: baseline.path,
        files,
        env: { COURTYARD_HB_LINE: line },
        timeoutMs: E2E_RUN_TIMEOUT_MS,
        extraArgs: ['--require', hooks, '--timeout', '120000', '--slow', '15000'],
      });
    }
  }
  console.log(`\ntotal time: ${seconds(started)}`);
}

main()
  .catch((err) => failCheck(`test runner error: ${err.stack ?? err}`))
  .finally(finish);
