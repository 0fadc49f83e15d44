// Configuration: the seed's names, defaults, .env under the environment, one clear line per bad value.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, readEnvironment } from '../src/config.ts';
import { startupReport } from '../src/startup-report.ts';

/** Runs `check` with a temporary directory holding `.env` with `text`. */
function withEnvFile(text: string, check: (dir: string) => void) {
  const dir = mkdtempSync(join(tmpdir(), 'gw-env-'));
  try {
    writeFileSync(join(dir, '.env'), text);
    check(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('configuration', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({});
    assert.equal(config.port, 8000);
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.openrouter.baseUrl, 'https://openrouter.ai/api/v1');
    assert.equal(config.langfuseHost, 'https://cloud.langfuse.com');
    assert.equal(config.corsOrigins, '*');
    assert.equal(config.dataDir, './data');
    assert.equal(config.upstreamTimeoutMs, 300_000);
    assert.equal(config.streamIdleTimeoutMs, 120_000);
    assert.equal(config.bodyLimitBytes, 32 * 1024 * 1024);
    assert.equal(config.shutdownDrainMs, 30_000);
    assert.equal(config.langfuse, undefined);
    assert.equal(config.openrouter.apiKey, undefined);
  });

  it('generates a random gateway key when API_KEY is unset, and a different one each time', () => {
    const a = loadConfig({});
    const b = loadConfig({ API_KEY: '' });
    assert.ok(a.apiKeyGenerated && b.apiKeyGenerated);
    assert.ok((a.apiKeys[0] ?? '').length >= 24);
    assert.notEqual(a.apiKeys[0], b.apiKeys[0]);
  });

  it('reads the seed variables with their meaning', () => {
    const config = loadConfig({
      OPENROUTER_API_KEY: 'sk-or', LANGFUSE_PUBLIC_KEY: 'pk', LANGFUSE_SECRET_KEY: 'sk', LANGFUSE_HOST: 'http://lf.local:3000/',
      PORT: '9000', HTTP_REFERER: 'http://localhost:8000', X_TITLE: 'Graphiti Proxy Server', API_KEY: 'k1,k2',
    });
    assert.equal(config.port, 9000);
    assert.deepEqual(config.langfuse, { host: 'http://lf.local:3000', publicKey: 'pk', secretKey: 'sk' });
    // Several keys, comma-separated; the whole value is a key too (a seed key with a comma in it keeps working).
    assert.deepEqual(config.apiKeys, ['k1', 'k2', 'k1,k2']);
    assert.deepEqual(loadConfig({ API_KEY: ' single-key ' }).apiKeys, ['single-key']);
    for (const empty of [',', ' , ', ',,']) {
      const config = loadConfig({ API_KEY: empty });
      assert.equal(config.apiKeyGenerated, true, `API_KEY=${JSON.stringify(empty)} is no key: one is generated`);
      assert.ok(!config.apiKeys.includes(empty.trim()));
    }
    assert.equal(config.openrouter.title, 'Graphiti Proxy Server');
    assert.equal(config.openrouter.httpReferer, 'http://localhost:8000');
  });

  it('lower-cases the Langfuse environment, as Langfuse would', () => {
    assert.equal(loadConfig({ LANGFUSE_ENVIRONMENT: 'Staging-EU_2' }).traces.environment, 'staging-eu_2');
    assert.equal(loadConfig({ LANGFUSE_TRACING_ENVIRONMENT: 'prod' }).traces.environment, 'prod');
    assert.equal(loadConfig({ LANGFUSE_ENVIRONMENT: '' }).traces.environment, undefined);
  });

  it('accepts LANGFUSE_BASE_URL as an alias of LANGFUSE_HOST', () => {
    assert.equal(loadConfig({ LANGFUSE_BASE_URL: 'https://us.cloud.langfuse.com' }).langfuseHost, 'https://us.cloud.langfuse.com');
  });

  it('explains a half-configured Langfuse', () => {
    assert.match(loadConfig({ LANGFUSE_PUBLIC_KEY: 'pk' }).langfuseProblem ?? '', /LANGFUSE_SECRET_KEY is missing/);
  });

  for (const [name, value, expected] of [
    ['PORT', 'eighty', /PORT.*port number/],
    ['PORT', '70000', /PORT/],
    ['OPENROUTER_BASE_URL', 'openrouter.ai', /OPENROUTER_BASE_URL.*URL/],
    ['UPSTREAM_TIMEOUT_S', '-1', /UPSTREAM_TIMEOUT_S.*seconds/],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL/],
    ['TRACE_SAMPLE_RATE', '2', /TRACE_SAMPLE_RATE.*0 to 1/],
    ['TRACE_CONTENT', 'maybe', /TRACE_CONTENT.*true or false/],
    ['LANGFUSE_ENVIRONMENT', 'prod eu', /LANGFUSE_ENVIRONMENT.*a-z, 0-9/],
    ['LANGFUSE_ENVIRONMENT', 'langfuse-prod', /LANGFUSE_ENVIRONMENT.*langfuse/],
    ['LANGFUSE_TRACING_ENVIRONMENT', 'x'.repeat(41), /LANGFUSE_TRACING_ENVIRONMENT.*40 characters/],
    // Header values: undici refuses these on every upstream call, which would read as a lost connection.
    ['X_TITLE', 'Café Proxy 🚀', /X_TITLE.*HTTP header/],
    ['HTTP_REFERER', '日本語アプリ', /HTTP_REFERER.*HTTP header/],
    ['X_TITLE', 'two\nlines', /X_TITLE.*HTTP header/],
  ] as const) {
    it(`stops with one line naming ${name} for "${value}"`, () => {
      assert.throws(() => loadConfig({ [name]: value }), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, expected);
        assert.ok(!error.message.includes('\n'));
        return true;
      });
    });
  }

  it('accepts a Latin-1 title, as an HTTP header can carry it', () => {
    assert.equal(loadConfig({ X_TITLE: 'Café Proxy' }).openrouter.title, 'Café Proxy');
  });

  for (const name of ['OPENROUTER_BASE_URL', 'LANGFUSE_HOST', 'LANGFUSE_BASE_URL']) {
    it(`refuses credentials in ${name}, and does not print them`, () => {
      assert.throws(() => loadConfig({ [name]: 'https://user:sk-secret-pass@example.com/api' }), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, new RegExp(`${name}.*user:password@`));
        assert.ok(!error.message.includes('sk-secret-pass'), error.message);
        assert.ok(!error.message.includes('//user'), error.message);
        return true;
      });
    });
  }

  it('takes empty values as unset: the defaults apply, as .env.example says', () => {
    const config = loadConfig({ PORT: '', TRACE_SAMPLE_RATE: '', CORS_ORIGINS: ' ', SHUTDOWN_DRAIN_S: '', TRACE_FLUSH_TIMEOUT_S: '',
      LANGFUSE_HOST: '', OPENROUTER_BASE_URL: '', LOG_LEVEL: '', LOG_FORMAT: '', TRACE_CONTENT: '', HOST: '', DATA_DIR: '',
      UPSTREAM_TIMEOUT_S: '', MAX_HEADER_KB: '', BODY_LIMIT_MB: '', AUTH_FAILURE_LIMIT: '', TRACE_RETENTION_DAYS: '' });
    const defaults = loadConfig({});
    assert.equal(config.port, 8000);
    assert.equal(config.traces.sampleRate, 1);
    assert.equal(config.corsOrigins, '*');
    assert.equal(config.shutdownDrainMs, defaults.shutdownDrainMs);
    assert.equal(config.traces.flushTimeoutMs, defaults.traces.flushTimeoutMs);
    assert.deepEqual({ ...config, apiKeys: [] }, { ...defaults, apiKeys: [] });
  });

  it('stops on an OpenRouter key no HTTP header can carry, naming the character but never the key', () => {
    for (const key of ['sk-or-v1-abc123\u200b', 'sk-or-v1 abc123', 'sk-or-v1-abc123é']) {
      assert.throws(() => loadConfig({ OPENROUTER_API_KEY: key }), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /^Invalid OPENROUTER_API_KEY \(value not shown\): .*character \d+ is U\+[0-9A-F]{4}/);
        assert.ok(!error.message.includes('abc123'), error.message);
        return true;
      });
    }
    assert.equal(loadConfig({ OPENROUTER_API_KEY: '  sk-or-v1-abc123  ' }).openrouter.apiKey, 'sk-or-v1-abc123');
  });

  it('reads a .env file as the seed did: "#" starts a comment only after whitespace in an unquoted value', () => {
    withEnvFile('API_KEY=Str0ng#Pass-9d8f7e6a\nX_TITLE=My App # the title\nHTTP_REFERER="http://a/#b"\n'
        + 'LANGFUSE_RELEASE=#1\nOPENROUTER_API_KEY=\nPORT=9100\nLANGFUSE_PUBLIC_KEY=   # set me\nTRACE_TAGS=c#x\nTRACE_TAGS=c\n'
        + 'NOTE="how to set it:\nAPI_KEY=xyz\n"\n', (dir) => {
      const env = readEnvironment({ PORT: '', OPENROUTER_API_KEY: 'sk-env' }, dir);
      assert.equal(env.API_KEY, 'Str0ng#Pass-9d8f7e6a');
      assert.equal(env.X_TITLE, 'My App');
      assert.equal(env.HTTP_REFERER, 'http://a/#b');
      assert.equal(env.LANGFUSE_RELEASE, '#1');
      assert.equal(env.LANGFUSE_PUBLIC_KEY, '', 'a value that is only a comment is empty, not "# set me"');
      assert.equal(env.TRACE_TAGS, 'c', 'the last assignment counts');
      // An empty environment variable does not hide the file's value; a set one wins over the file's empty one.
      assert.equal(loadConfig(env).port, 9100);
      assert.equal(loadConfig(env).openrouter.apiKey, 'sk-env');
    });
  });

  it('expands ${NAME} and ${NAME:-default} in .env values as python-dotenv does', () => {
    // Expected values: python-dotenv 1.2.2's load_dotenv() on the same file, PORT=9 and HOME_X=hx in the environment.
    withEnvFile('A=1\nB=x${A}y\nC=\'q${A}q\'\nD="d${A}d${NOPE:-def}"\nE=${HOME_X}\nF=$A\nG=${B}\nH=${LATER}\n'
        + 'LATER=late\nI=${PORT}\nJ=\\${A}\nK=${A:-zz}\nL=${ :-sp}\nM=${A}#c\nN=${A} #c\nO=${constructor}\n'
        + 'HTTP_REFERER=http://localhost:${PORT}\n', (dir) => {
      const env = readEnvironment({ PORT: '9', HOME_X: 'hx' }, dir);
      assert.deepEqual(
        Object.fromEntries('A B C D E F G H LATER I J K L M N O'.split(' ').map((name) => [name, env[name]])),
        { A: '1', B: 'x1y', C: 'q1q', D: 'd1ddef', E: 'hx', F: '$A', G: 'x1y', H: '', LATER: 'late', I: '9', J: '\\1', K: '1', L: 'sp', M: '1#c', N: '1', O: '' },
      );
      assert.equal(loadConfig(env).openrouter.httpReferer, 'http://localhost:9');
    });
  });

  it('an alias set in the environment wins over both names in .env', () => {
    withEnvFile('LANGFUSE_HOST=https://cloud.langfuse.com\nLANGFUSE_ENVIRONMENT=from-file\n', (dir) => {
      const fromEnvironment = loadConfig(readEnvironment({ LANGFUSE_BASE_URL: 'http://127.0.0.1:3000', LANGFUSE_TRACING_ENVIRONMENT: 'from-env' }, dir));
      assert.equal(fromEnvironment.langfuseHost, 'http://127.0.0.1:3000');
      assert.equal(fromEnvironment.traces.environment, 'from-env');
      const fromFile = loadConfig(readEnvironment({ LANGFUSE_BASE_URL: ' ' }, dir));
      assert.equal(fromFile.langfuseHost, 'https://cloud.langfuse.com');
      assert.equal(fromFile.traces.environment, 'from-file');
    });
  });

  it('warns at start-up about an API_KEY too short to be safe or to be scrubbed from traces', () => {
    const warns = (env: Record<string, string>) => startupReport(loadConfig(env), 'http://0.0.0.0:8000').some(({ level, line }) => level === 'warn' && /API_KEY is shorter than 8/.test(line));
    assert.equal(warns({ API_KEY: 'Pa55w0r' }), true);
    assert.equal(warns({ API_KEY: 'long-enough-key,short' }), true);
    assert.equal(warns({ API_KEY: 'long-enough-key' }), false);
    assert.equal(warns({}), false, 'a generated key is long');
  });

  it('reads .env from the working directory, and the environment wins', () => {
    withEnvFile('PORT=9100\nX_TITLE="From file"\n# comment\nAPI_KEY=file-key\n', (dir) => {
      const env = readEnvironment({ API_KEY: 'env-key' }, dir);
      const config = loadConfig(env);
      assert.equal(config.port, 9100);
      assert.equal(config.openrouter.title, 'From file');
      assert.deepEqual(config.apiKeys, ['env-key']);
      assert.deepEqual(readEnvironment({}, join(dir, 'missing')), {});
    });
  });
});
