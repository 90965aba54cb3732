// deploy/Dockerfile and its helpers. No Docker daemon is available to tests, so the image is not
// built here; instead the Dockerfile's structure is checked against the repo (scripts, paths, the
// build-context filter), and the two scripts it copies into the image are run for real.
//
// deploy/docker-compose.yml: every file it mounts or builds from exists, and the services agree with
// the configs they load (nginx / HAProxy upstreams, Prometheus targets, Grafana provisioning, TLS
// file paths, Redis URL). Those configs are run for real by templates.test.ts, load-balancers.test.ts
// and monitoring.test.ts.
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { type RequestListener, type Server, createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directiveArgs, findBlocks, parseHaproxySections, parseNginx } from './config-blocks.js';
import { type YamlMap, type YamlValue, at, isMap, parseYaml } from './mini-yaml.js';
import { type SelfSignedCert, freePort, removeDir, selfSignedCert, tempDir } from './proc.js';
import { DEPLOY_DIR, HAPROXY_CFG, NGINX_CONF, REPO_ROOT, SERVER_ENV } from './render.js';

const DOCKERFILE = join(DEPLOY_DIR, 'Dockerfile');
const DOCKERIGNORE = join(DEPLOY_DIR, 'Dockerfile.dockerignore');
const HEALTHCHECK = join(DEPLOY_DIR, 'docker/healthcheck.mjs');
const RUNTIME_DEPS = join(DEPLOY_DIR, 'docker/runtime-deps.mjs');

interface Instruction {
  readonly op: string;
  readonly args: string;
}
interface Stage {
  readonly name: string;
  readonly from: string;
  readonly instructions: Instruction[];
}

/** Dockerfile -> stages of instructions (comments dropped, line continuations joined). */
function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && current === '')) continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push((current + line).trim());
    current = '';
  }
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of logical) {
    const [op = '', ...rest] = line.split(/\s+/);
    const argText = rest.join(' ');
    if (op.toUpperCase() === 'FROM') {
      const match = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(argText);
      if (!match) throw new Error(`bad FROM: ${line}`);
      const from = match[1]!.replace(/\$\{(\w+)\}/g, (_m, name: string) => args.get(name) ?? '');
      stages.push({ name: match[2] ?? String(stages.length), from, instructions: [] });
    } else if (op.toUpperCase() === 'ARG' && stages.length === 0) {
      const [name, value = ''] = argText.split('=');
      args.set(name!, value);
    } else {
      const stage = stages.at(-1);
      if (!stage) throw new Error(`instruction before FROM: ${line}`);
      stage.instructions.push({ op: op.toUpperCase(), args: argText });
    }
  }
  return { args, stages };
}

/** .dockerignore semantics: last matching pattern wins, `!` re-includes, a matched directory covers its contents. */
function dockerignoreMatcher(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = (negate ? l.slice(1) : l).replace(/^\/+/, '');
      const source = pattern
        .split('/')
        .map((part) =>
          part === '**'
            ? '(?:.*)'
            : part
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replace(/\*/g, '[^/]*')
                .replace(/\?/g, '[^/]'),
        )
        .join('/')
        .replace(/\(\?:\.\*\)\//g, '(?:.*/)?');
      return { negate, regex: new RegExp(`^${source}$`) };
    });
  return (path) => {
    const parts = path.split('/');
    const prefixes = parts.map((_p, i) => parts.slice(0, i + 1).join('/'));
    let ignored = false;
    for (const rule of rules) {
      if (prefixes.some((p) => rule.regex.test(p))) ignored = !rule.negate;
    }
    return ignored;
  };
}

const packageJson = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  bin?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  dependencies?: Record<string, string>;
};
const { args, stages } = parseDockerfile(readFileSync(DOCKERFILE, 'utf8'));
const stage = (name: string) => {
  const found = stages.find((s) => s.name === name);
  if (!found) throw new Error(`no stage ${name}`);
  return found;
};
const runs = (s: Stage) => s.instructions.filter((i) => i.op === 'RUN').map((i) => i.args);
const ignored = dockerignoreMatcher(readFileSync(DOCKERIGNORE, 'utf8'));

describe('Dockerfile', () => {
  it('is multi-stage and ends in a node:20 slim runtime', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', 'deps', 'runtime-distroless', 'runtime']);
    expect(stages.at(-1)!.from).toMatch(/^node:20[\w.-]*-slim$/);
    expect(stage('runtime-distroless').from).toMatch(/distroless\/nodejs20/);
    expect(args.get('NODE_IMAGE')).toMatch(/^node:20/);
  });

  it('builds with tsc in the first stage, install scripts off until the sources are there', () => {
    const build = stage('build');
    const steps = runs(build);
    expect(steps[0]).toMatch(/^npm ci\b.*--ignore-scripts/);
    // `prepare` runs tsc: it would fail before src is copied, hence --ignore-scripts above.
    expect(packageJson.scripts.prepare).toMatch(/tsc/);
    expect(steps).toContain('npm run build');
    expect(packageJson.scripts.build).toMatch(/tsc -p tsconfig\.build\.json/);
    const copied = build.instructions
      .filter((i) => i.op === 'COPY')
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    const tsconfigBuild = JSON.parse(readFileSync(join(REPO_ROOT, 'tsconfig.build.json'), 'utf8')) as {
      include: string[];
    };
    for (const dir of tsconfigBuild.include)
      expect(copied, `tsconfig.build.json includes ${dir}`).toContain(dir);
  });

  it('installs production dependencies with npm ci --omit=dev, optional peers included', () => {
    const [install] = runs(stage('deps'));
    expect(install).toMatch(/node \/tmp\/runtime-deps\.mjs package\.json/);
    expect(install).toMatch(/npm ci --omit=dev --ignore-scripts/);
    expect(install!.indexOf('runtime-deps')).toBeLessThan(install!.indexOf('npm ci'));
  });

  it('runs the example server as a non-root numeric user with a node-based HEALTHCHECK', () => {
    const runtime = stage('runtime');
    const user = runtime.instructions.filter((i) => i.op === 'USER').at(-1)?.args ?? '';
    expect(user).toMatch(/^[1-9]\d*(:\d+)?$/);
    const cmd = JSON.parse(runtime.instructions.find((i) => i.op === 'CMD')!.args) as string[];
    expect(cmd).toEqual(['node', 'dist/examples/everything/main.js']);
    expect(packageJson.scripts.start).toBe(cmd.join(' '));
    expect(packageJson.bin?.['mcpkit-everything']).toBe(`./${cmd[1]}`);
    const health = runtime.instructions.find((i) => i.op === 'HEALTHCHECK')!.args;
    expect(health).toMatch(/CMD \["node", "\/usr\/local\/lib\/mcpkit\/healthcheck\.mjs"\]/);
    expect(runtime.instructions.find((i) => i.op === 'EXPOSE')?.args).toBe('8080');
    expect(runtime.instructions.find((i) => i.op === 'STOPSIGNAL')?.args).toBe('SIGTERM');
    const distroless = stage('runtime-distroless');
    expect(distroless.instructions.find((i) => i.op === 'HEALTHCHECK')!.args).toContain(
      '/usr/local/lib/mcpkit/healthcheck.mjs',
    );
  });

  it('copies only files that exist (or that tsconfig.build.json builds) and that the context filter keeps', () => {
    const tsconfigBuild = JSON.parse(readFileSync(join(REPO_ROOT, 'tsconfig.build.json'), 'utf8')) as {
      include: string[];
    };
    for (const s of stages) {
      for (const copy of s.instructions.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))) {
        for (const source of copy.args.split(/\s+/).slice(0, -1)) {
          const known = existsSync(join(REPO_ROOT, source)) || tsconfigBuild.include.includes(source);
          expect(known, `COPY ${source}`).toBe(true);
          expect(ignored(source), `COPY ${source} is excluded by Dockerfile.dockerignore`).toBe(false);
        }
      }
    }
  });

  it('keeps dependencies, build output, VCS data, tests and secrets out of the build context', () => {
    for (const path of [
      'node_modules/ws/index.js',
      'src/node_modules/x',
      'dist/src/index.js',
      '.git/HEAD',
      'test/deploy/k8s.test.ts',
      '.env',
      '.env.local',
      'deploy/k8s/deployment.yaml',
      'certs/tls.key',
    ]) {
      expect(ignored(path), path).toBe(true);
    }
    for (const path of [
      'package.json',
      'package-lock.json',
      'src/index.ts',
      'examples/everything/main.ts',
      'deploy/docker/healthcheck.mjs',
    ]) {
      expect(ignored(path), path).toBe(false);
    }
  });
});

function runNode(
  script: string,
  scriptArgs: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; output: string }> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [script, ...scriptArgs],
      { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 10_000 },
      (error, stdout, stderr) => {
        resolvePromise({ code: error ? Number(error.code ?? 1) : 0, output: `${stdout}${stderr}` });
      },
    );
  });
}

describe('runtime-deps.mjs', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('mcpkit-runtime-deps-');
  });
  afterAll(() => removeDir(dir));

  it('turns every optional peer into a locked production dependency and leaves dev tooling alone', async () => {
    const copy = join(dir, 'package.json');
    copyFileSync(join(REPO_ROOT, 'package.json'), copy);
    const first = await runNode(RUNTIME_DEPS, [copy]);
    expect(first.code, first.output).toBe(0);
    const result = JSON.parse(readFileSync(copy, 'utf8')) as typeof packageJson;
    const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version?: string }>;
    };
    const peers = Object.keys(packageJson.peerDependencies ?? {});
    expect(peers).toEqual(expect.arrayContaining(['ioredis', 'prom-client', 'ws']));
    for (const peer of peers) {
      expect(result.dependencies?.[peer], peer).toBe(
        packageJson.devDependencies?.[peer] ?? packageJson.dependencies?.[peer],
      );
      expect(result.devDependencies?.[peer], peer).toBeUndefined();
      // npm ci installs the locked version, so the lockfile must already hold it.
      expect(lock.packages[`node_modules/${peer}`]?.version, `${peer} in package-lock.json`).toBeTruthy();
    }
    expect(result.devDependencies?.typescript).toBe(packageJson.devDependencies?.typescript);
    expect(result.devDependencies?.vitest).toBe(packageJson.devDependencies?.vitest);
    expect(result.dependencies?.pino).toBe(packageJson.dependencies?.pino);
    const second = await runNode(RUNTIME_DEPS, [copy]);
    expect(second.output).toContain('no optional peers to add');
  });
});

describe('healthcheck.mjs', () => {
  let dir: string;
  let cert: SelfSignedCert;
  const servers: Server[] = [];
  beforeAll(async () => {
    dir = tempDir('mcpkit-healthcheck-');
    cert = await selfSignedCert(dir);
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    removeDir(dir);
  });

  async function serve(handler: RequestListener, tls = false): Promise<number> {
    const server = tls
      ? createHttpsServer({ cert: readFileSync(cert.certPath), key: readFileSync(cert.keyPath) }, handler)
      : createHttpServer(handler);
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return (server.address() as AddressInfo).port;
  }
  const respond =
    (status: number, body: string): RequestListener =>
    (req, res) => {
      res.writeHead(req.url === '/health' ? status : 404, { 'content-type': 'application/json' });
      res.end(req.url === '/health' ? body : '{}');
    };

  it('passes for {"status":"healthy"} on /health at MCP_SERVER_PORT', async () => {
    const port = await serve(respond(200, '{"status":"healthy","version":"0.1.0","uptime_secs":3}'));
    const result = await runNode(HEALTHCHECK, [], { MCP_SERVER_PORT: String(port) });
    expect(result.code, result.output).toBe(0);
  });

  it('fails on a 503, on an unexpected body and when nothing listens', async () => {
    const down = await serve(respond(503, '{"status":"unhealthy"}'));
    const wrong = await serve(respond(200, 'ok'));
    const closedPort = await freePort();
    const [onDown, onWrong, onClosed] = await Promise.all(
      [down, wrong, closedPort].map((port) => runNode(HEALTHCHECK, [], { MCP_SERVER_PORT: String(port) })),
    );
    expect(onDown!.code, onDown!.output).toBe(1);
    expect(onWrong!.code, onWrong!.output).toBe(1);
    expect(onClosed!.code).toBe(1);
    expect(onClosed!.output).toMatch(/unhealthy/);
  });

  it('speaks HTTPS when the server has TLS configured', async () => {
    const port = await serve(respond(200, '{"status":"healthy"}'), true);
    const env = {
      MCP_SERVER_PORT: String(port),
      MCP_TLS_CERT_PATH: cert.certPath,
      MCP_TLS_KEY_PATH: cert.keyPath,
    };
    // Plain HTTP against the TLS port fails, so the TLS switch is what makes it pass.
    const [result, plain] = await Promise.all([
      runNode(HEALTHCHECK, [], env),
      runNode(HEALTHCHECK, [], { MCP_SERVER_PORT: String(port) }),
    ]);
    expect(result.code, result.output).toBe(0);
    expect(plain.code).toBe(1);
  });

  it('probes the configured host when the server binds a specific address', async () => {
    const port = await serve(respond(200, '{"status":"healthy"}'));
    const [own, other] = await Promise.all(
      ['127.0.0.1', '127.0.0.2'].map((host) =>
        runNode(HEALTHCHECK, [], { MCP_SERVER_PORT: String(port), MCP_SERVER_HOST: host }),
      ),
    );
    expect(own!.code, own!.output).toBe(0);
    expect(other!.code).toBe(1);
  });
});

const COMPOSE = join(DEPLOY_DIR, 'docker-compose.yml');
const compose = parseYaml(readFileSync(COMPOSE, 'utf8')) as YamlMap;
const services = at(compose, 'services') as YamlMap;
const replicas = Object.keys(services)
  .filter((name) => /^mcp-\d+$/.test(name))
  .sort();

function service(name: string): YamlMap {
  const s = services[name];
  if (!isMap(s)) throw new Error(`no service ${name}`);
  return s;
}

interface Mount {
  readonly source: string;
  readonly target: string;
  readonly bind: boolean;
}

function mounts(name: string): Mount[] {
  return ((at(service(name), 'volumes') ?? []) as YamlValue[]).map((v) => {
    const [source = '', target = ''] = String(v).split(':');
    return { source, target, bind: source.startsWith('.') || source.startsWith('/') };
  });
}

/** The host path a bind mount refers to (relative to the compose file). */
const hostPath = (source: string) => resolve(DEPLOY_DIR, source);

/** Where a file at containerPath comes from in the repo, through the service's bind mounts. */
function mountedFrom(name: string, containerPath: string): string | undefined {
  for (const m of mounts(name)) {
    if (!m.bind) continue;
    if (containerPath === m.target) return hostPath(m.source);
    if (containerPath.startsWith(`${m.target}/`))
      return join(hostPath(m.source), containerPath.slice(m.target.length + 1));
  }
  return undefined;
}

describe('docker-compose.yml', () => {
  it('runs redis, three replicas, nginx, prometheus and grafana, with HAProxy behind a profile', () => {
    expect(replicas).toEqual(['mcp-1', 'mcp-2', 'mcp-3']);
    for (const name of ['redis', 'nginx', 'prometheus', 'grafana', 'haproxy', 'certs'])
      expect(services).toHaveProperty(name);
    expect(at(service('haproxy'), 'profiles')).toEqual(['haproxy']);
    for (const name of Object.keys(services)) {
      if (name !== 'haproxy') expect(at(service(name), 'profiles'), name).toBeUndefined();
    }
  });

  it('builds every replica from deploy/Dockerfile and configures it with known variables only', () => {
    for (const name of replicas) {
      const s = service(name);
      const context = resolve(DEPLOY_DIR, String(at(s, 'build', 'context')));
      expect(context).toBe(REPO_ROOT);
      expect(existsSync(join(context, String(at(s, 'build', 'dockerfile'))))).toBe(true);
      expect(join(context, String(at(s, 'build', 'dockerfile')))).toBe(join(DEPLOY_DIR, 'Dockerfile'));
      const env = at(s, 'environment') as YamlMap;
      for (const key of Object.keys(env)) expect(SERVER_ENV.has(key), `${name}: ${key}`).toBe(true);
      expect(env.MCP_SERVER_PORT).toBe('8080');
      const redis = new URL(String(env.MCP_REDIS_URL));
      expect(services).toHaveProperty(redis.hostname);
      expect(at(s, 'depends_on', redis.hostname, 'condition')).toBe('service_healthy');
      expect(at(s, 'read_only')).toBe(true);
      // Longer than the server's 30 s drain.
      expect(Number.parseInt(String(at(s, 'stop_grace_period')), 10)).toBeGreaterThan(30);
    }
    const envs = replicas.map((name) => JSON.stringify(at(service(name), 'environment')));
    expect(new Set(envs).size, 'replicas are configured identically').toBe(1);
  });

  it('mounts only files and directories that exist, and declares every named volume', () => {
    const declared = Object.keys((at(compose, 'volumes') ?? {}) as YamlMap);
    for (const name of Object.keys(services)) {
      for (const m of mounts(name)) {
        if (m.bind) expect(existsSync(hostPath(m.source)), `${name}: ${m.source}`).toBe(true);
        else expect(declared, `${name}: volume ${m.source}`).toContain(m.source);
      }
    }
  });

  it('nginx loads deploy/nginx/nginx.conf, whose upstreams are the replicas and whose certificates are mounted', () => {
    expect(mountedFrom('nginx', '/etc/nginx/nginx.conf')).toBe(NGINX_CONF);
    const conf = parseNginx(readFileSync(NGINX_CONF, 'utf8'));
    const [upstream] = findBlocks(conf, 'upstream', 'mcp_servers');
    const hosts = directiveArgs(upstream!, 'server').map((a) => a[0]);
    expect(hosts).toEqual(replicas.map((r) => `${r}:8080`));
    const [server] = findBlocks(conf, 'server');
    const certDir = dirname(directiveArgs(server!, 'ssl_certificate')[0]![0]!);
    expect(dirname(directiveArgs(server!, 'ssl_certificate_key')[0]![0]!)).toBe(certDir);
    expect(mounts('nginx').find((m) => m.target === certDir)?.source).toBe('certs');
    const listens = directiveArgs(server!, 'listen').map((a) => a[0]);
    const published = ((at(service('nginx'), 'ports') ?? []) as YamlValue[]).map(
      (p) => String(p).split(':')[1],
    );
    expect(published.sort()).toEqual(listens.sort());
  });

  it('HAProxy loads deploy/haproxy/haproxy.cfg, whose servers are the replicas and whose PEM is mounted', () => {
    expect(mountedFrom('haproxy', '/usr/local/etc/haproxy/haproxy.cfg')).toBe(HAPROXY_CFG);
    const sections = parseHaproxySections(readFileSync(HAPROXY_CFG, 'utf8'));
    const servers = (sections.get('backend mcp_servers') ?? [])
      .filter((l) => l.startsWith('server '))
      .map((l) => l.split(' ')[2]);
    expect(servers).toEqual(replicas.map((r) => `${r}:8080`));
    const tlsBind = (sections.get('frontend mcp_front') ?? []).find((l) => l.includes(' ssl crt '))!;
    const pem = /ssl crt (\S+)/.exec(tlsBind)![1]!;
    expect(mounts('haproxy').find((m) => m.target === dirname(pem))?.source).toBe('certs');
    const command = String(at(service('certs'), 'command', 0));
    for (const file of ['tls.crt', 'tls.key', 'tls.pem']) expect(command).toContain(`/certs/${file}`);
  });

  it('Prometheus loads deploy/prometheus/ and scrapes each replica directly', () => {
    const configPath = mountedFrom('prometheus', '/etc/prometheus/prometheus.yml')!;
    expect(configPath).toBe(join(DEPLOY_DIR, 'prometheus/prometheus.yml'));
    const config = parseYaml(readFileSync(configPath, 'utf8'));
    for (const ruleFile of (at(config, 'rule_files') ?? []) as string[]) {
      expect(mountedFrom('prometheus', join('/etc/prometheus', ruleFile)), ruleFile).toBe(
        join(DEPLOY_DIR, 'prometheus', ruleFile),
      );
    }
    const job = ((at(config, 'scrape_configs') ?? []) as YamlValue[]).find(
      (j) => at(j, 'job_name') === 'mcpkit',
    );
    expect(at(job, 'static_configs', 0, 'targets')).toEqual(replicas.map((r) => `${r}:8080`));
    expect(at(job, 'scrape_interval')).toBe('15s');
    expect(at(job, 'metrics_path')).toBe('/metrics');
  });

  it('Grafana is provisioned with the Prometheus service and the mcpkit dashboard', () => {
    const datasources = parseYaml(
      readFileSync(mountedFrom('grafana', '/etc/grafana/provisioning/datasources/prometheus.yml')!, 'utf8'),
    );
    const url = new URL(String(at(datasources, 'datasources', 0, 'url')));
    expect(services).toHaveProperty(url.hostname);
    expect(at(datasources, 'datasources', 0, 'type')).toBe('prometheus');
    const providers = parseYaml(
      readFileSync(mountedFrom('grafana', '/etc/grafana/provisioning/dashboards/mcpkit.yml')!, 'utf8'),
    );
    const dashboardDir = String(at(providers, 'providers', 0, 'options', 'path'));
    expect(mountedFrom('grafana', `${dashboardDir}/mcpkit-dashboard.json`)).toBe(
      join(DEPLOY_DIR, 'grafana/mcpkit-dashboard.json'),
    );
  });
});
