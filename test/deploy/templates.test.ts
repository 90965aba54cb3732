// nginx and HAProxy configs: the real binaries accept them (`nginx -t`, `haproxy -c`), the committed
// compose renderings equal the templates, and the directives SSE / WebSocket / health depend on are
// where they must be.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directiveArgs, findBlocks, parseHaproxySections, parseNginx } from './config-blocks.js';
import { checkHaproxyConfig, haproxyHarnessValues } from './haproxy-harness.js';
import { nginxHarnessValues, testNginxConfig } from './nginx-harness.js';
import { type SelfSignedCert, removeDir, selfSignedCert, tempDir } from './proc.js';
import {
  HAPROXY_CFG,
  HAPROXY_COMPOSE_VALUES,
  HAPROXY_TEMPLATE,
  NGINX_COMPOSE_VALUES,
  NGINX_CONF,
  NGINX_TEMPLATE,
  placeholdersOf,
  readTemplate,
  renderComposeHaproxy,
  renderComposeNginx,
  renderTemplate,
} from './render.js';

const RENDER = process.env.MCPKIT_RENDER_DEPLOY === '1';

let dir: string;
let cert: SelfSignedCert;

beforeAll(async () => {
  dir = tempDir('mcpkit-deploy-check-');
  cert = await selfSignedCert(dir);
});
afterAll(() => removeDir(dir));

describe('renderTemplate', () => {
  it('indents multi-line values, leaves comments and nginx variables alone, rejects missing values', () => {
    const template = '# ${KEEP}\nupstream u {\n    ${SERVERS}\n}\nset $host_x ${ONE};\n';
    expect(renderTemplate(template, { SERVERS: 'server a;\nserver b;', ONE: '1' })).toBe(
      '# ${KEEP}\nupstream u {\n    server a;\n    server b;\n}\nset $host_x 1;\n',
    );
    expect(() => renderTemplate(template, { SERVERS: 'x' })).toThrow(/ONE/);
    expect(placeholdersOf(template)).toEqual(['ONE', 'SERVERS']);
  });
});

describe('nginx', () => {
  const template = readTemplate(NGINX_TEMPLATE);

  it('compose values and harness values cover exactly the template placeholders', () => {
    const harness = nginxHarnessValues(dir, { http: 1, https: 2 }, [3], cert);
    expect(Object.keys(NGINX_COMPOSE_VALUES).sort()).toEqual(placeholdersOf(template));
    expect(Object.keys(harness).sort()).toEqual(placeholdersOf(template));
  });

  it.each([false, true])(
    'nginx -t accepts the template rendered to loopback (session affinity: %s)',
    async (affinity) => {
      const sub = join(dir, `nginx-${affinity}`);
      mkdirSync(sub, { recursive: true });
      const conf = join(sub, 'nginx.conf');
      writeFileSync(
        conf,
        renderTemplate(
          template,
          nginxHarnessValues(sub, { http: 18081, https: 18444 }, [19001, 19002, 19003], cert, affinity),
        ),
      );
      expect(await testNginxConfig(sub, conf)).toMatch(/test is successful/);
    },
  );

  it('nginx -t rejects a broken rendering (the check is real)', async () => {
    const sub = join(dir, 'nginx-broken');
    mkdirSync(sub, { recursive: true });
    const conf = join(sub, 'nginx.conf');
    const values = nginxHarnessValues(sub, { http: 18082, https: 18445 }, [19001], cert);
    writeFileSync(conf, renderTemplate(template, { ...values, NGINX_UPSTREAM_BALANCING: 'least_conn' }));
    await expect(testNginxConfig(sub, conf)).rejects.toThrow(/nginx -t failed/);
  });

  it('deploy/nginx/nginx.conf is the template rendered with the compose values', () => {
    const rendered = renderComposeNginx();
    if (RENDER) writeFileSync(NGINX_CONF, rendered);
    expect(readFileSync(NGINX_CONF, 'utf8')).toBe(rendered);
  });

  it('/mcp streams unbuffered, upgrades WebSockets and forwards session headers', () => {
    // The compose rendering: the template itself has ${...} placeholders that look like blocks.
    const root = parseNginx(renderComposeNginx());
    const [mcp] = findBlocks(root, 'location', '=', '/mcp');
    expect(mcp).toBeDefined();
    const one = (name: string) => directiveArgs(mcp!, name).map((args) => args.join(' '));
    expect(one('proxy_buffering')).toEqual(['off']);
    expect(one('proxy_cache')).toEqual(['off']);
    expect(one('gzip')).toEqual(['off']);
    expect(one('proxy_pass')).toEqual(['http://mcp_servers']);
    expect(Number.parseInt(one('proxy_read_timeout')[0] ?? '0', 10)).toBeGreaterThanOrEqual(3600);
    const headers = Object.fromEntries(
      directiveArgs(mcp!, 'proxy_set_header').map(([k, v]) => [k!.toLowerCase(), v]),
    );
    expect(headers).toMatchObject({
      upgrade: '$http_upgrade',
      connection: '$connection_upgrade',
      'mcp-session-id': '$http_mcp_session_id',
      'last-event-id': '$http_last_event_id',
      'x-forwarded-for': '$proxy_add_x_forwarded_for',
    });
    const [http] = findBlocks(root, 'http');
    const maps = findBlocks(http!, 'map', '$http_upgrade', '$connection_upgrade');
    expect(maps).toHaveLength(1);
    // Empty Connection header for plain requests, so upstream keepalive connections are reused.
    expect(maps[0]!.directives).toContainEqual(['', '']);
    const [upstream] = findBlocks(http!, 'upstream', 'mcp_servers');
    expect(directiveArgs(upstream!, 'keepalive')).toEqual([['32']]);
    expect(directiveArgs(http!, 'proxy_http_version')).toEqual([['1.1']]);
  });
});

describe('haproxy', () => {
  const template = readTemplate(HAPROXY_TEMPLATE);

  it('compose values and harness values cover exactly the template placeholders', () => {
    const harness = haproxyHarnessValues({ http: 1, https: 2, stats: 3 }, [4], cert.pemPath);
    expect(Object.keys(HAPROXY_COMPOSE_VALUES).sort()).toEqual(placeholdersOf(template));
    expect(Object.keys(harness).sort()).toEqual(placeholdersOf(template));
  });

  it.each([false, true])(
    'haproxy -c accepts the template rendered to loopback (session affinity: %s)',
    async (affinity) => {
      const cfg = join(dir, `haproxy-${affinity}.cfg`);
      writeFileSync(
        cfg,
        renderTemplate(
          template,
          haproxyHarnessValues(
            { http: 18083, https: 18446, stats: 18405 },
            [19001, 19002],
            cert.pemPath,
            affinity,
          ),
        ),
      );
      expect(await checkHaproxyConfig(cfg)).toMatch(/Configuration file is valid/);
    },
  );

  it('haproxy -c accepts the compose server names even before they resolve (init-addr none)', async () => {
    const cfg = join(dir, 'haproxy-compose.cfg');
    writeFileSync(
      cfg,
      renderTemplate(template, {
        ...HAPROXY_COMPOSE_VALUES,
        HAPROXY_TLS_PEM: cert.pemPath,
        HAPROXY_HTTP_BIND: '127.0.0.1:18084',
        HAPROXY_HTTPS_BIND: '127.0.0.1:18447',
        HAPROXY_STATS_BIND: '127.0.0.1:18406',
      }),
    );
    expect(await checkHaproxyConfig(cfg)).toMatch(/Configuration file is valid/);
  });

  it('haproxy -c rejects a broken rendering (the check is real)', async () => {
    const cfg = join(dir, 'haproxy-broken.cfg');
    const values = haproxyHarnessValues({ http: 18085, https: 18448, stats: 18407 }, [19001], cert.pemPath);
    writeFileSync(cfg, renderTemplate(template, { ...values, HAPROXY_BALANCE: 'fastest' }));
    await expect(checkHaproxyConfig(cfg)).rejects.toThrow(/haproxy -c failed/);
  });

  it('deploy/haproxy/haproxy.cfg is the template rendered with the compose values', () => {
    const rendered = renderComposeHaproxy();
    if (RENDER) writeFileSync(HAPROXY_CFG, rendered);
    expect(readFileSync(HAPROXY_CFG, 'utf8')).toBe(rendered);
  });

  it('checks /ready, keeps connections alive and gives streams tunnel / long timeouts', () => {
    const sections = parseHaproxySections(template);
    const defaults = sections.get('defaults') ?? [];
    const backend = sections.get('backend mcp_servers') ?? [];
    expect(defaults).toContain('option http-keep-alive');
    expect(defaults).not.toContain('option http-server-close');
    expect(defaults).toContain('timeout tunnel 1h');
    expect(defaults).toContain('timeout server 1h');
    expect(defaults).toContain('retry-on conn-failure');
    expect(backend).toContain('option httpchk');
    expect(backend.find((l) => l.startsWith('http-check send'))).toMatch(/meth GET uri \/ready/);
    expect(backend).toContain('http-check expect status 200');
    expect(backend.find((l) => l.startsWith('default-server'))).toMatch(/\bcheck\b/);
  });
});
