// Kubernetes manifests: structure and cross-references (labels, ports, names, probes, shutdown
// timing). No Kubernetes schema is available offline (kubeconform / kubernetes-models are not
// installed), so this checks what a schema would not anyway: that the pieces fit together. When
// kubectl is present its built-in kustomize renders the kustomization and the optional components.
//
// Also the small YAML reader all of this relies on: what it accepts it must read exactly as YAML
// does, and what it does not support it must refuse rather than misread.
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type YamlMap, type YamlValue, at, isMap, parseYaml, parseYamlDocuments } from './mini-yaml.js';
import { hasCommand, removeDir, run, tempDir } from './proc.js';
import { DEPLOY_DIR, SERVER_ENV } from './render.js';

const K8S = join(DEPLOY_DIR, 'k8s');

/** The server's default drain deadline after SIGTERM, in seconds. */
const DRAIN_SECONDS = 30;

interface Manifest {
  readonly file: string;
  readonly doc: YamlMap;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(entry.name) ? [path] : [];
  });
}

function load(files: readonly string[]): Manifest[] {
  return files.flatMap((file) =>
    parseYamlDocuments(readFileSync(file, 'utf8')).map((doc) => {
      if (!isMap(doc)) throw new Error(`${file}: a document is not a mapping`);
      return { file: relative(K8S, file), doc };
    }),
  );
}

const allFiles = yamlFiles(K8S);
const kustomizationFiles = allFiles.filter((f) => /kustomization\.yaml$/.test(f));
const patchFiles = allFiles.filter((f) => f.endsWith('hpa-open-streams.yaml'));
const manifests = load(allFiles.filter((f) => !kustomizationFiles.includes(f) && !patchFiles.includes(f)));

function find(kind: string, name?: string): YamlMap {
  const found = manifests.filter(
    (m) => m.doc.kind === kind && (name === undefined || at(m.doc, 'metadata', 'name') === name),
  );
  if (found.length !== 1)
    throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0]!.doc;
}

function str(value: YamlValue | undefined): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new Error(`expected a scalar, got ${JSON.stringify(value)}`);
}

function labelsMatch(selector: YamlValue | undefined, labels: YamlValue | undefined): boolean {
  if (!isMap(selector) || !isMap(labels) || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** Parses Kubernetes memory quantities used here (Mi, Gi, plain bytes). */
function bytes(quantity: string): number {
  const match = /^(\d+)(Mi|Gi)?$/.exec(quantity);
  if (!match) throw new Error(`unsupported quantity ${quantity}`);
  const scale = match[2] === 'Gi' ? 1024 ** 3 : match[2] === 'Mi' ? 1024 ** 2 : 1;
  return Number(match[1]) * scale;
}

const deployment = find('Deployment', 'mcpkit');
const podSpec = at(deployment, 'spec', 'template', 'spec') as YamlMap;
const container = at(podSpec, 'containers', 0) as YamlMap;
const configMap = find('ConfigMap', 'mcpkit-config');
const service = find('Service', 'mcpkit');

function containerPort(name: string | number): number {
  if (typeof name === 'number') return name;
  const ports = (at(container, 'ports') ?? []) as YamlValue[];
  const port = ports.find((p) => at(p, 'name') === name);
  if (!port) throw new Error(`container has no port named ${name}`);
  return at(port, 'containerPort') as number;
}

describe('every manifest', () => {
  it('parses and names its apiVersion, kind and metadata.name, and no namespace', () => {
    expect(manifests.length).toBeGreaterThanOrEqual(12);
    for (const { file, doc } of manifests) {
      expect(typeof doc.apiVersion, file).toBe('string');
      expect(typeof doc.kind, file).toBe('string');
      expect(typeof at(doc, 'metadata', 'name'), file).toBe('string');
      expect(at(doc, 'metadata', 'namespace'), `${file} must stay namespace-agnostic`).toBeUndefined();
    }
  });

  it('is listed by exactly one kustomization (root or component), and every listed file exists', () => {
    const listed = new Map<string, string>();
    for (const kfile of kustomizationFiles) {
      const k = parseYamlDocuments(readFileSync(kfile, 'utf8'))[0];
      expect(at(k, 'kind'), kfile).toMatch(/^(Kustomization|Component)$/);
      const dir = join(kfile, '..');
      const entries = [
        ...((at(k, 'resources') ?? []) as YamlValue[]),
        ...((at(k, 'patches') ?? []) as YamlValue[]).map((p) => at(p, 'path') as YamlValue),
      ];
      for (const entry of entries) {
        const path = join(dir, str(entry));
        expect(allFiles, `${kfile} lists ${str(entry)}`).toContain(path);
        expect(listed.has(path), `${path} listed twice`).toBe(false);
        listed.set(path, kfile);
      }
    }
    for (const file of allFiles) {
      if (kustomizationFiles.includes(file)) continue;
      expect(listed.has(file), `${relative(K8S, file)} is in no kustomization`).toBe(true);
    }
  });
});

describe('Deployment', () => {
  it('runs 3 replicas with the guide resources and matching selector labels', () => {
    expect(at(deployment, 'spec', 'replicas')).toBe(3);
    expect(
      labelsMatch(
        at(deployment, 'spec', 'selector', 'matchLabels'),
        at(deployment, 'spec', 'template', 'metadata', 'labels'),
      ),
    ).toBe(true);
    expect(at(container, 'resources')).toEqual({
      requests: { cpu: '100m', memory: '128Mi' },
      limits: { cpu: '500m', memory: '512Mi' },
    });
  });

  it('probes /health (startup, liveness) and /ready (readiness) on the server port', () => {
    const serverPort = Number(str(at(configMap, 'data', 'MCP_SERVER_PORT')));
    expect(serverPort).toBe(8080);
    const probes = {
      startupProbe: '/health',
      livenessProbe: '/health',
      readinessProbe: '/ready',
    } as const;
    for (const [probe, path] of Object.entries(probes)) {
      expect(at(container, probe, 'httpGet', 'path'), probe).toBe(path);
      const port = at(container, probe, 'httpGet', 'port') as string | number;
      expect(containerPort(port), probe).toBe(serverPort);
    }
  });

  it('drains before SIGKILL: grace period > preStop sleep + drain deadline', () => {
    const command = at(container, 'lifecycle', 'preStop', 'exec', 'command') as YamlValue[];
    expect(command[0]).toBe('sleep');
    const preStop = Number(command[1]);
    expect(preStop).toBeGreaterThan(0);
    const grace = at(podSpec, 'terminationGracePeriodSeconds') as number;
    expect(grace).toBeGreaterThan(preStop + DRAIN_SECONDS);
  });

  it('runs as non-root on a read-only root filesystem with no capabilities', () => {
    expect(at(podSpec, 'securityContext', 'runAsNonRoot')).toBe(true);
    expect(at(podSpec, 'securityContext', 'runAsUser')).not.toBe(0);
    expect(at(container, 'securityContext')).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    const mounts = (at(container, 'volumeMounts') ?? []) as YamlValue[];
    const tmp = mounts.find((m) => at(m, 'mountPath') === '/tmp');
    expect(tmp, 'a writable /tmp').toBeDefined();
    const volume = ((at(podSpec, 'volumes') ?? []) as YamlValue[]).find(
      (v) => at(v, 'name') === at(tmp, 'name'),
    );
    expect(at(volume, 'emptyDir')).toBeDefined();
  });

  it('takes its environment from the ConfigMap and the Secret, with known variables only', () => {
    const envFrom = (at(container, 'envFrom') ?? []) as YamlValue[];
    const configName = envFrom.map((e) => at(e, 'configMapRef', 'name')).find(Boolean);
    const secretName = envFrom.map((e) => at(e, 'secretRef', 'name')).find(Boolean);
    expect(configName).toBe('mcpkit-config');
    const secret = find('Secret', str(secretName));
    for (const key of [
      ...Object.keys(at(configMap, 'data') as YamlMap),
      ...Object.keys(at(secret, 'stringData') as YamlMap),
    ]) {
      expect(SERVER_ENV.has(key), `${key} is not a server variable`).toBe(true);
    }
    expect(Object.keys(at(secret, 'stringData') as YamlMap)).toContain('MCP_REDIS_URL');
  });

  it('caps the V8 heap below the memory limit', () => {
    const env = (at(container, 'env') ?? []) as YamlValue[];
    const options = str(
      at(
        env.find((e) => at(e, 'name') === 'NODE_OPTIONS'),
        'value',
      ),
    );
    const heapMiB = Number(/--max-old-space-size=(\d+)/.exec(options)?.[1]);
    expect(heapMiB * 1024 * 1024).toBeLessThan(bytes(str(at(container, 'resources', 'limits', 'memory'))));
  });
});

describe('Service, HPA, PDB, Ingress, ServiceMonitor', () => {
  const podLabels = at(deployment, 'spec', 'template', 'metadata', 'labels');

  it('the Service selects the pods and targets the named server port, without affinity', () => {
    expect(labelsMatch(at(service, 'spec', 'selector'), podLabels)).toBe(true);
    const port = at(service, 'spec', 'ports', 0) as YamlMap;
    expect(port.name).toBe('http');
    expect(containerPort(port.targetPort as string | number)).toBe(8080);
    expect(at(service, 'spec', 'sessionAffinity')).toBeUndefined();
  });

  it('the HPA scales the Deployment between 2 and 10 at 70% CPU', () => {
    const hpa = find('HorizontalPodAutoscaler');
    expect(at(hpa, 'spec', 'scaleTargetRef')).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'mcpkit',
    });
    expect(at(hpa, 'spec', 'minReplicas')).toBe(2);
    expect(at(hpa, 'spec', 'maxReplicas')).toBe(10);
    expect(at(hpa, 'spec', 'metrics', 0, 'resource')).toEqual({
      name: 'cpu',
      target: { type: 'Utilization', averageUtilization: 70 },
    });
  });

  it('the PDB covers the pods and never blocks a drain at the HPA minimum', () => {
    const pdb = find('PodDisruptionBudget');
    expect(labelsMatch(at(pdb, 'spec', 'selector', 'matchLabels'), podLabels)).toBe(true);
    expect(at(pdb, 'spec', 'maxUnavailable')).toBe(1);
  });

  it('the Ingress reaches the Service port with SSE-safe annotations and TLS', () => {
    const ingress = find('Ingress');
    const annotations = at(ingress, 'metadata', 'annotations') as YamlMap;
    expect(annotations['nginx.ingress.kubernetes.io/proxy-buffering']).toBe('off');
    expect(Number(annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'])).toBeGreaterThanOrEqual(
      3600,
    );
    expect(Number(annotations['nginx.ingress.kubernetes.io/proxy-send-timeout'])).toBeGreaterThanOrEqual(
      3600,
    );
    expect(at(ingress, 'spec', 'tls', 0, 'secretName')).toBeTypeOf('string');
    const paths = at(ingress, 'spec', 'rules', 0, 'http', 'paths') as YamlValue[];
    expect(paths.map((p) => at(p, 'path'))).toContain('/mcp');
    expect(paths.map((p) => at(p, 'path'))).not.toContain('/metrics');
    for (const path of paths) {
      expect(at(path, 'backend', 'service', 'name')).toBe('mcpkit');
      expect(at(path, 'backend', 'service', 'port', 'name')).toBe(at(service, 'spec', 'ports', 0, 'name'));
    }
  });

  it('the ServiceMonitor scrapes /metrics on the Service port of the mcpkit Service', () => {
    const monitor = find('ServiceMonitor');
    expect(
      labelsMatch(at(monitor, 'spec', 'selector', 'matchLabels'), at(service, 'metadata', 'labels')),
    ).toBe(true);
    expect(at(monitor, 'spec', 'endpoints', 0, 'port')).toBe(at(service, 'spec', 'ports', 0, 'name'));
    expect(at(monitor, 'spec', 'endpoints', 0, 'path')).toBe('/metrics');
    // The job label is the Service name; alerts and dashboard select job="mcpkit".
    expect(at(service, 'metadata', 'name')).toBe('mcpkit');
  });
});

describe('Redis', () => {
  it('the StatefulSet, its Service and MCP_REDIS_URL agree on name, port and password secret', () => {
    const statefulSet = find('StatefulSet', 'mcpkit-redis');
    const redisService = find('Service', str(at(statefulSet, 'spec', 'serviceName')));
    expect(at(redisService, 'spec', 'clusterIP')).toBe('None');
    expect(
      labelsMatch(
        at(redisService, 'spec', 'selector'),
        at(statefulSet, 'spec', 'template', 'metadata', 'labels'),
      ),
    ).toBe(true);
    const port = at(redisService, 'spec', 'ports', 0, 'port') as number;
    const url = new URL(str(at(find('Secret', 'mcpkit-secrets'), 'stringData', 'MCP_REDIS_URL')));
    expect(url.hostname).toBe(at(redisService, 'metadata', 'name'));
    expect(Number(url.port)).toBe(port);
    const password = str(at(find('Secret', 'mcpkit-redis'), 'stringData', 'password'));
    expect(decodeURIComponent(url.password)).toBe(password);
    const redisContainer = at(statefulSet, 'spec', 'template', 'spec', 'containers', 0);
    expect(at(redisContainer, 'securityContext', 'readOnlyRootFilesystem')).toBe(true);
    expect(at(statefulSet, 'spec', 'template', 'spec', 'securityContext', 'runAsNonRoot')).toBe(true);
  });

  it('the NetworkPolicy lets only the mcpkit pods reach Redis', () => {
    const policy = find('NetworkPolicy');
    const statefulSet = find('StatefulSet', 'mcpkit-redis');
    expect(
      labelsMatch(
        at(policy, 'spec', 'podSelector', 'matchLabels'),
        at(statefulSet, 'spec', 'template', 'metadata', 'labels'),
      ),
    ).toBe(true);
    expect(
      labelsMatch(
        at(policy, 'spec', 'ingress', 0, 'from', 0, 'podSelector', 'matchLabels'),
        at(deployment, 'spec', 'template', 'metadata', 'labels'),
      ),
    ).toBe(true);
  });
});

describe('kustomize rendering (kubectl, when installed)', async () => {
  const kubectl = await hasCommand('kubectl', ['version', '--client']);
  let dir: string;
  beforeAll(() => {
    dir = tempDir('mcpkit-kustomize-');
  });
  afterAll(() => removeDir(dir));

  it.skipIf(!kubectl)('renders the base and an overlay with a namespace and both components', async () => {
    const base = await run('kubectl', ['kustomize', K8S]);
    expect(base.code, base.stderr).toBe(0);
    const baseKinds = parseYamlDocuments(base.stdout).map((d) => at(d, 'kind'));
    expect(baseKinds.sort()).toEqual(
      manifests
        .filter((m) => m.doc.kind !== 'ServiceMonitor')
        .map((m) => m.doc.kind)
        .sort(),
    );

    const overlay = join(dir, 'overlay');
    mkdirSync(overlay);
    const rel = relative(overlay, K8S);
    writeFileSync(
      join(overlay, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        'namespace: mcp-test',
        `resources: [${rel}]`,
        `components: [${rel}/components/monitoring, ${rel}/components/custom-metrics]`,
        '',
      ].join('\n'),
    );
    const rendered = await run('kubectl', ['kustomize', overlay]);
    expect(rendered.code, rendered.stderr).toBe(0);
    const docs = parseYamlDocuments(rendered.stdout);
    for (const doc of docs) expect(at(doc, 'metadata', 'namespace')).toBe('mcp-test');
    const hpa = docs.find((d) => at(d, 'kind') === 'HorizontalPodAutoscaler');
    expect(at(hpa, 'spec', 'metrics', 1, 'pods', 'metric', 'name')).toBe('mcp_open_streams');
    expect(docs.some((d) => at(d, 'kind') === 'ServiceMonitor')).toBe(true);
    const image = at(
      docs.find((d) => at(d, 'kind') === 'Deployment'),
      'spec',
      'template',
      'spec',
      'containers',
      0,
      'image',
    );
    expect(image).toBe('registry.example.com/mcpkit:0.1.0');
  });
});

describe('mini-yaml', () => {
  it('reads block mappings, sequences of mappings, typed scalars and comments', () => {
    const doc = parseYaml(
      [
        '# leading comment',
        'apiVersion: apps/v1  # trailing comment',
        'spec:',
        '  replicas: 3',
        '  ratio: 0.5',
        '  enabled: true',
        '  nothing: ~',
        "  quoted: 'it''s # not a comment'",
        '  dq: "a\\tb: c"',
        '  containers:',
        '    - name: app',
        '      ports:',
        '        - containerPort: 8080',
        '          name: http',
        '      args: ["--a", \'b\', 3]',
        '  list:',
        '  - x',
        '  - {a: 1, b: two}',
        '  - http://example.com:8080/path',
      ].join('\n'),
    );
    expect(doc).toEqual({
      apiVersion: 'apps/v1',
      spec: {
        replicas: 3,
        ratio: 0.5,
        enabled: true,
        nothing: null,
        quoted: "it's # not a comment",
        dq: 'a\tb: c',
        containers: [{ name: 'app', ports: [{ containerPort: 8080, name: 'http' }], args: ['--a', 'b', 3] }],
        list: ['x', { a: 1, b: 'two' }, 'http://example.com:8080/path'],
      },
    });
    expect(at(doc, 'spec', 'containers', 0, 'ports', 0, 'name')).toBe('http');
    expect(at(doc, 'spec', 'missing', 3)).toBeUndefined();
  });

  it('reads literal and folded block scalars with their chomping', () => {
    const doc = parseYaml(
      [
        'a: |',
        '  line 1',
        '    indented',
        '',
        '  line 3',
        'b: |-',
        '  x',
        'c: >-',
        '  one',
        '  two',
        '',
        '  three',
        'd: x',
      ].join('\n'),
    );
    expect(doc).toEqual({ a: 'line 1\n  indented\n\nline 3\n', b: 'x', c: 'one two\nthree', d: 'x' });
    const list = parseYaml(['cmd:', '  - >-', '    a', '    b', '  - c'].join('\n'));
    expect(list).toEqual({ cmd: ['a b', 'c'] });
  });

  it('splits documents and drops empty ones', () => {
    expect(parseYamlDocuments('---\na: 1\n---\n# only a comment\n---\nb: [x]\n')).toEqual([
      { a: 1 },
      { b: ['x'] },
    ]);
  });

  it('refuses what it does not support instead of misreading it', () => {
    expect(() => parseYaml('a: &anchor 1\nb: *anchor\n')).toThrow(/anchors/);
    expect(() => parseYaml('a: !!str 1\n')).toThrow(/tags/);
    expect(() => parseYaml('a:\n\tb: 1\n')).toThrow(/tab/);
    expect(() => parseYaml('a: 1\na: 2\n')).toThrow(/duplicate key a/);
    expect(() => parseYaml('a:\n  plain text\n    continued\n')).toThrow(/multi-line/);
    expect(() => parseYaml("a: 'open\n")).toThrow(/unterminated/);
    expect(() => parseYaml('a: [1, 2\n')).toThrow(/unterminated flow/);
    expect(() => parseYaml('a: 1\n   b: 2\n')).toThrow(/line 2/);
  });
});
