// Real clients against a simulator started with simctl: kubectl, the
// official Python client (Debian python3-kubernetes), hvac; simctl itself
// (files written, --tls with HTTP/2 via ALPN, stop twice).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http2 from 'node:http2';
import { execFileSync, spawnSync } from 'node:child_process';
import { ROOT } from './helpers.js';

const SIMCTL = path.join(ROOT, 'simctl');
// Debian's python3 has python3-kubernetes; a pyenv python3 first on PATH may not.
const PYTHON = ['/usr/bin/python3', 'python3'].find((p) => spawnSync(p, ['-c', 'import kubernetes'], { stdio: 'ignore' }).status === 0);
const HVAC = PYTHON && spawnSync(PYTHON, ['-c', 'import hvac'], { stdio: 'ignore' }).status === 0;
const KUBECTL = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;

function simctl(...args)
{
	return execFileSync(SIMCTL, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const dirs = {};
before(() =>
{
	dirs.plain = fs.mkdtempSync(path.join(os.tmpdir(), 'tenancy-sim-plain-'));
	dirs.tls = fs.mkdtempSync(path.join(os.tmpdir(), 'tenancy-sim-tls-'));
	simctl('start', dirs.plain, '--helm-ready-delay-ms', '50');
	simctl('start', dirs.tls, '--tls');
});
after(() =>
{
	for (const d of Object.values(dirs))
	{
		simctl('stop', d);
		fs.rmSync(d, { recursive: true, force: true });
	}
});

const read = (dir, f) => fs.readFileSync(path.join(dir, f), 'utf8').trim();
const endpoints = (dir) => JSON.parse(read(dir, 'endpoints.json'));

test('simctl writes endpoints, tokens, sa.jwt and kubeconfig; ports on loopback', () =>
{
	for (const dir of [dirs.plain, dirs.tls])
	{
		const e = endpoints(dir);
		assert.deepEqual(Object.keys(e).sort(), ['control', 'grafana', 'kubernetes', 'vault']);
		for (const url of Object.values(e))
			assert.match(url, /^https?:\/\/127\.0\.0\.1:\d+$/);
		for (const f of ['k8s-token', 'vault-token', 'grafana-token', 'sa.jwt', 'kubeconfig', 'sim.pid', 'sim.log'])
			assert.ok(fs.existsSync(path.join(dir, f)), f);
		assert.equal(read(dir, 'sa.jwt').split('.').length, 3);
		assert.ok(/^\d+$/.test(read(dir, 'sim.pid')));
	}
	assert.match(endpoints(dirs.plain).kubernetes, /^http:/);
	assert.match(endpoints(dirs.tls).kubernetes, /^https:/);
	assert.match(endpoints(dirs.tls).control, /^http:/);
	assert.ok(fs.existsSync(path.join(dirs.tls, 'ca.crt')));
	assert.notEqual(read(dirs.plain, 'k8s-token'), read(dirs.tls, 'k8s-token'), 'tokens are random per start');
});

test('--tls serves HTTP/2 (ALPN) and HTTP/1.1 with the generated CA', async () =>
{
	const e = endpoints(dirs.tls);
	const ca = fs.readFileSync(path.join(dirs.tls, 'ca.crt'));
	const h2 = await new Promise((resolve, reject) =>
	{
		const client = http2.connect(e.kubernetes, { ca });
		client.on('error', reject);
		const req = client.request({ ':path': '/version' });
		let body = '';
		req.on('response', (h) => (req.status = h[':status']));
		req.on('data', (c) => (body += c));
		req.on('end', () =>
		{
			client.close();
			resolve({ status: req.status, body: JSON.parse(body), alpn: client.alpnProtocol });
		});
		req.end();
	});
	assert.equal(h2.status, 200);
	assert.equal(h2.alpn, 'h2');
	assert.equal(h2.body.major, '1');
	const out = execFileSync('node', ['-e', `
		const https = require('https');
		https.get(process.argv[1] + '/v1/sys/health', { ca: require('fs').readFileSync(process.argv[2]) }, (r) => { console.log(r.statusCode, r.httpVersion); process.exit(0); });
	`, e.vault, path.join(dirs.tls, 'ca.crt')], { encoding: 'utf8' });
	assert.equal(out.trim(), '200 1.1');
});

test('simctl stop is safe twice, and start refuses a running directory', () =>
{
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenancy-sim-stop-'));
	simctl('start', dir);
	const pid = Number(read(dir, 'sim.pid'));
	const again = spawnSync(SIMCTL, ['start', dir], { encoding: 'utf8' });
	assert.notEqual(again.status, 0);
	simctl('stop', dir);
	simctl('stop', dir);
	assert.throws(() => process.kill(pid, 0));
	fs.rmSync(dir, { recursive: true, force: true });
});

function kubectl(dir, ...args)
{
	return execFileSync('kubectl', ['--kubeconfig', path.join(dir, 'kubeconfig'), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

for (const mode of ['plain', 'tls'])
{
	test(`kubectl: create, get, list, patch, apply, delete namespaces, configmaps, secrets (${mode})`, { skip: !KUBECTL && 'kubectl not installed' }, () =>
	{
		const dir = dirs[mode];
		assert.match(kubectl(dir, 'create', 'namespace', 'kc'), /namespace\/kc created/);
		assert.match(kubectl(dir, '-n', 'kc', 'create', 'configmap', 'cfg', '--from-literal=a=1'), /configmap\/cfg created/);
		assert.match(kubectl(dir, '-n', 'kc', 'create', 'secret', 'generic', 'sec', '--from-literal=password=hunter2'), /secret\/sec created/);
		assert.match(kubectl(dir, 'get', 'namespaces'), /kc\s+Active/);
		assert.equal(kubectl(dir, '-n', 'kc', 'get', 'configmap', 'cfg', '-o', 'jsonpath={.data.a}'), '1');
		assert.match(kubectl(dir, '-n', 'kc', 'get', 'configmaps,secrets', '-o', 'name'), /configmap\/cfg[\s\S]*secret\/sec/);
		assert.match(kubectl(dir, '-n', 'kc', 'patch', 'configmap', 'cfg', '-p', '{"data":{"b":"2"}}'), /patched/);
		assert.match(kubectl(dir, '-n', 'kc', 'patch', 'secret', 'sec', '--type=merge', '-p', '{"stringData":{"user":"u"}}'), /patched/);
		assert.equal(kubectl(dir, '-n', 'kc', 'get', 'secret', 'sec', '-o', 'jsonpath={.data.user}'), Buffer.from('u').toString('base64'));
		assert.match(kubectl(dir, 'label', 'namespace', 'kc', 'tenant=kc'), /labeled/);
		assert.match(kubectl(dir, 'get', 'namespaces', '-l', 'tenant=kc', '-o', 'name'), /^namespace\/kc$/m);
		const manifest = path.join(dir, 'm.yaml');
		fs.writeFileSync(manifest, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\n  namespace: kc\ndata:\n  x: "1"\n');
		assert.match(kubectl(dir, 'apply', '--server-side', '-f', manifest), /serverside-applied/);
		assert.match(kubectl(dir, 'apply', '-f', manifest), /configured|unchanged/);
		const bad = spawnSync('kubectl', ['--kubeconfig', path.join(dir, 'kubeconfig'), '-n', 'kc', 'create', 'configmap', 'Bad_Name'], { encoding: 'utf8' });
		assert.notEqual(bad.status, 0);
		assert.match(bad.stderr, /is invalid/);
		assert.match(kubectl(dir, '-n', 'kc', 'delete', 'configmap', 'cfg'), /deleted/);
		assert.match(kubectl(dir, '-n', 'kc', 'delete', 'secret', 'sec'), /deleted/);
		assert.match(kubectl(dir, 'delete', 'namespace', 'kc'), /deleted/);
		const gone = spawnSync('kubectl', ['--kubeconfig', path.join(dir, 'kubeconfig'), 'get', 'namespace', 'kc'], { encoding: 'utf8' });
		assert.match(gone.stderr, /NotFound/);
	});
}

const PY = `
import sys
from kubernetes import client, config
from kubernetes.client.rest import ApiException
config.load_kube_config(config_file=sys.argv[1])
v1 = client.CoreV1Api()
v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="py", labels={"tenant": "py"})))
assert [n.metadata.name for n in v1.list_namespace(label_selector="tenant=py").items] == ["py"]
v1.create_namespaced_config_map("py", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cm"), data={"k": "v"}))
v1.patch_namespaced_config_map("cm", "py", {"data": {"k2": "v2"}})
assert v1.read_namespaced_config_map("cm", "py").data == {"k": "v", "k2": "v2"}
assert [c.metadata.name for c in v1.list_namespaced_config_map("py", field_selector="metadata.name=cm").items] == ["cm"]
v1.create_namespaced_secret("py", client.V1Secret(metadata=client.V1ObjectMeta(name="s"), string_data={"pw": "x"}))
assert v1.read_namespaced_secret("s", "py").data == {"pw": "eA=="}
v1.patch_namespaced_secret("s", "py", {"metadata": {"labels": {"a": "b"}}})
try:
    v1.create_namespaced_secret("py", client.V1Secret(metadata=client.V1ObjectMeta(name="s")))
    raise SystemExit("expected 409")
except ApiException as e:
    assert e.status == 409, e.status
try:
    v1.read_namespaced_config_map("missing", "py")
    raise SystemExit("expected 404")
except ApiException as e:
    assert e.status == 404
v1.delete_namespaced_secret("s", "py")
v1.delete_namespaced_config_map("cm", "py")
v1.delete_namespace("py")
assert v1.read_namespace("py").status.phase == "Terminating"
print("ok")
`;

for (const mode of ['plain', 'tls'])
{
	test(`official Python client: namespaces, configmaps, secrets (${mode})`, { skip: !PYTHON && 'python3-kubernetes not installed' }, () =>
	{
		const out = execFileSync(PYTHON, ['-c', PY, path.join(dirs[mode], 'kubeconfig')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
		assert.equal(out.trim(), 'ok');
	});
}

const HV = `
import sys, hvac
url, token, jwt, ca = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
verify = ca if ca else True
c = hvac.Client(url=url, token=token, verify=verify)
assert c.is_authenticated()
assert c.sys.read_health_status(method="GET")["sealed"] is False
c.secrets.kv.v2.create_or_update_secret(path="tenants/acme/db", secret={"password": "p1"}, mount_point="secret")
c.secrets.kv.v2.create_or_update_secret(path="tenants/acme/db", secret={"password": "p2"}, cas=1, mount_point="secret")
r = c.secrets.kv.v2.read_secret_version(path="tenants/acme/db", mount_point="secret")
assert r["data"]["data"] == {"password": "p2"} and r["data"]["metadata"]["version"] == 2
assert c.secrets.kv.v2.list_secrets(path="tenants/acme", mount_point="secret")["data"]["keys"] == ["db"]
try:
    c.secrets.kv.v2.create_or_update_secret(path="tenants/acme/db", secret={"password": "p3"}, cas=1, mount_point="secret")
    raise SystemExit("expected cas failure")
except hvac.exceptions.InvalidRequest as e:
    assert "check-and-set" in str(e)
k = hvac.Client(url=url, verify=verify)
k.auth.kubernetes.login(role="tenancy", jwt=jwt)
assert k.is_authenticated()
assert k.secrets.kv.v2.read_secret_version(path="tenants/acme/db", mount_point="secret")["data"]["data"]["password"] == "p2"
c.secrets.kv.v2.delete_metadata_and_all_versions(path="tenants/acme/db", mount_point="secret")
try:
    c.secrets.kv.v2.read_secret_version(path="tenants/acme/db", mount_point="secret")
    raise SystemExit("expected 404")
except hvac.exceptions.InvalidPath:
    pass
print("ok")
`;

for (const mode of ['plain', 'tls'])
{
	test(`hvac against Vault KV v2 and kubernetes auth (${mode})`, { skip: !HVAC && 'python3-hvac not installed' }, () =>
	{
		const dir = dirs[mode];
		const out = execFileSync(PYTHON, ['-c', HV, endpoints(dir).vault, read(dir, 'vault-token'), read(dir, 'sa.jwt'), mode === 'tls' ? path.join(dir, 'ca.crt') : ''], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
		assert.equal(out.trim(), 'ok');
	});
}
