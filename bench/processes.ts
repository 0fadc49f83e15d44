// Starts the benchmark's child processes, waits until each is ready, and stops every one of them on
// the way out (normal end, error or Ctrl-C). Logs go to bench/out/logs/<name>.log.
import { fork, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Child {
  name: string;
  pid: number;
  port: number;
  process: ChildProcess;
  /** An IPC request/response (forked helpers only). */
  ask<T>(command: Record<string, unknown>, timeoutMs?: number): Promise<T>;
}

type Message = { type: 'ready'; port: number } | { type: 'reply'; id: number; value: unknown };

export function createProcessGroup(logDir: string) {
  mkdirSync(logDir, { recursive: true });
  const children = new Set<ChildProcess>();
  const stopping = new Set<ChildProcess>();
  let nextId = 1;

  function track(name: string, child: ChildProcess): number {
    if (child.pid === undefined) throw new Error(`${name}: the process did not start`);
    children.add(child);
    child.once('exit', (code, signal) => {
      children.delete(child);
      // A crash mid-run would otherwise only show up as connection errors in the figures.
      if (!stopping.has(child)) process.stderr.write(`\n${name} exited unexpectedly (code ${code}, signal ${signal}); see ${join(logDir, `${name}.log`)}\n`);
    });
    return child.pid;
  }

  const logTail = (name: string) => {
    try {
      return readFileSync(join(logDir, `${name}.log`), 'utf8').slice(-2000);
    } catch {
      return '';
    }
  };

  function exitedEarly(name: string, child: ChildProcess): Promise<never> {
    return new Promise((_, reject) => child.once('exit', (code, signal) =>
      reject(new Error(`${name} exited before it was ready (code ${code}, signal ${signal}):\n${logTail(name)}`))));
  }

  function logFile(name: string): number {
    return openSync(join(logDir, `${name}.log`), 'w');
  }

  /** Forks a bench helper that reports `{type: 'ready', port}` over IPC. */
  async function forkHelper(name: string, file: string, env: Record<string, string> = {}, execArgv: string[] = [], timeoutMs = 15_000): Promise<Child> {
    const log = logFile(name);
    const child = fork(file, [], { env: { ...process.env, ...env }, execArgv, stdio: ['ignore', log, log, 'ipc'] });
    closeSync(log);
    const pid = track(name, child);
    const waiting = new Map<number, (value: unknown) => void>();
    const ready = new Promise<number>((resolve) => {
      child.on('message', (message: Message) => {
        if (message.type === 'ready') resolve(message.port);
        if (message.type === 'reply') waiting.get(message.id)?.(message.value);
      });
    });
    const port = await Promise.race([ready, exitedEarly(name, child), sleep(timeoutMs).then(() => { throw new Error(`${name} not ready in ${timeoutMs} ms`); })]);
    return {
      name, pid, port, process: child,
      ask<T>(command: Record<string, unknown>, askTimeoutMs = 30_000) {
        const id = nextId++;
        return new Promise<T>((resolve, reject) => {
          const timer = setTimeout(() => { waiting.delete(id); reject(new Error(`${name}: no answer to ${String(command.type)}`)); }, askTimeoutMs);
          waiting.set(id, (value) => { clearTimeout(timer); waiting.delete(id); resolve(value as T); });
          child.send({ ...command, id });
        });
      },
    };
  }

  /** Spawns `node [nodeArgs] entry` (the gateway) and waits for GET /health with the key to answer 200. */
  async function spawnServer(name: string, options: { entry: string; cwd: string; nodeArgs: string[]; env: Record<string, string>; port: number; apiKey: string; timeoutMs?: number }): Promise<Child> {
    const log = logFile(name);
    const child = spawn(process.execPath, [...options.nodeArgs, options.entry], { cwd: options.cwd, env: options.env, stdio: ['ignore', log, log] });
    closeSync(log);
    const pid = track(name, child);
    const early = exitedEarly(name, child);
    early.catch(() => undefined);
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    while (Date.now() < deadline) {
      const ok = await Promise.race([
        fetch(`http://127.0.0.1:${options.port}/health`, { headers: { authorization: `Bearer ${options.apiKey}` } })
          .then((response) => response.ok, () => false),
        early,
      ]);
      if (ok) {
        return { name, pid, port: options.port, process: child, ask: () => Promise.reject(new Error(`${name} has no IPC`)) };
      }
      await sleep(100);
    }
    throw new Error(`${name} did not answer /health in time:\n${logTail(name)}`);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  async function stop(child: ChildProcess, graceMs = 5000): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    stopping.add(child);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  return {
    forkHelper,
    spawnServer,
    stop,
    async stopAll(graceMs = 5000) {
      await Promise.all([...children].map((child) => stop(child, graceMs)));
    },
    /** Last resort on process exit: no waiting possible there. */
    killAllNow() {
      for (const child of children) {
        stopping.add(child);
        child.kill('SIGKILL');
      }
    },
  };
}

export type ProcessGroup = ReturnType<typeof createProcessGroup>;
