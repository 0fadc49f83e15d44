// Runs the gateway as users do (`node src/main.ts`), in a child process, with its logs captured.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface GatewayProcess {
  url: string;
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export async function startGatewayProcess(env: Record<string, string>, options: { cwd?: string; timeoutMs?: number; entry?: string } = {}): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [`${root}${options.entry ?? 'src/main.ts'}`], {
    cwd: options.cwd ?? root,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => { output += text; });
  child.stderr?.setEncoding('utf8').on('data', (text: string) => { output += text; });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  for (;;) {
    const match = /gateway listening on (http:\/\/[^\s"]+)/.exec(output);
    if (match?.[1]) {
      return {
        url: match[1], child, output: () => output, exited,
        async stop(signal = 'SIGTERM') {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          return exited;
        },
      };
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`gateway did not start:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
