// main.js — start the platform simulator: Kubernetes API, Vault, Grafana
// and the control API, each on its own loopback listener.
//
//   node src/main.js --dir DIR [--tls] [--helm-ready-delay-ms N]
//        [--namespace-delete-delay-ms N] [--pod-start-delay-ms N] [--vault-mount NAME]
//        [--charts-dir DIR]
//
// Writes DIR/sim.pid, DIR/endpoints.json, tokens, sa.jwt, kubeconfig (and
// with --tls ca.crt) once every listener answers. Normally run by simctl.

import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { Journal } from './journal.js';
import { Faults } from './faults.js';
import { Listener } from './http.js';
import { KubernetesApi } from './k8s/api.js';
import { Controllers } from './k8s/controllers.js';
import { loadValidators, findByKind } from './k8s/resources.js';
import { Vault } from './vault.js';
import { Grafana } from './grafana.js';
import { Control } from './control.js';

const INITIAL_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

function parseArgs(argv)
{
	const opts = { dir: null, tls: false, helmReadyDelayMs: 300, namespaceDeleteDelayMs: 200, podStartDelayMs: 50, vaultMount: 'secret' };
	const intArg = (i, name) =>
	{
		const v = Number(argv[i + 1]);
		if (!Number.isInteger(v) || v < 0)
			throw new Error(`${name} needs a non-negative integer`);
		return v;
	};
	for (let i = 0; i < argv.length; i++)
	{
		switch (argv[i])
		{
			case '--dir': opts.dir = argv[++i]; break;
			case '--tls': opts.tls = true; break;
			case '--helm-ready-delay-ms': opts.helmReadyDelayMs = intArg(i++, argv[i]); break;
			case '--namespace-delete-delay-ms': opts.namespaceDeleteDelayMs = intArg(i++, argv[i]); break;
			case '--pod-start-delay-ms': opts.podStartDelayMs = intArg(i++, argv[i]); break;
			case '--vault-mount': opts.vaultMount = argv[++i]; break;
			case '--charts-dir': opts.chartsDir = path.resolve(argv[++i]); break;
			default: throw new Error(`unknown argument: ${argv[i]}`);
		}
	}
	if (!opts.dir)
		throw new Error('--dir DIR is required');
	return opts;
}

function b64url(o)
{
	return Buffer.from(JSON.stringify(o)).toString('base64url');
}

// A service-account JWT of the shape the kubelet mounts. Its signature is
// random: only the simulator's Vault accepts it, by exact match.
function serviceAccountJwt()
{
	const iat = Math.floor(Date.now() / 1000);
	return [
		b64url({ alg: 'RS256', kid: 'tenancy-sim' }),
		b64url({
			aud: ['https://kubernetes.default.svc.cluster.local'], exp: iat + 365 * 86400, iat, iss: 'https://kubernetes.default.svc.cluster.local',
			'kubernetes.io': { namespace: 'tenancy-system', serviceaccount: { name: 'tenancy', uid: '6a0f3f43-1d2c-4a53-9c4d-5ad3a0e0c0de' } },
			nbf: iat, sub: 'system:serviceaccount:tenancy-system:tenancy',
		}),
		randomBytes(64).toString('base64url'),
	].join('.');
}

// A throwaway CA and a server certificate for 127.0.0.1/localhost.
function makeCertificates(dir)
{
	const run = (args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
	run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=tenancy-sim-ca',
		'-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
	run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
	fs.writeFileSync(path.join(dir, 'server.ext'),
		'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n');
	run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'server.ext']);
	for (const f of ['server.csr', 'server.ext', 'ca.srl', 'ca.key'])
		fs.rmSync(path.join(dir, f), { force: true });
	return {
		key: fs.readFileSync(path.join(dir, 'server.key')),
		cert: fs.readFileSync(path.join(dir, 'server.crt')),
		caPem: fs.readFileSync(path.join(dir, 'ca.crt'), 'utf8'),
	};
}

function writeFile(dir, name, content, mode = 0o600)
{
	const tmp = path.join(dir, `.${name}.tmp`);
	fs.writeFileSync(tmp, content, { mode });
	fs.renameSync(tmp, path.join(dir, name));
}

export class Simulator
{
	constructor(opts)
	{
		this.opts = opts;
		this.journal = new Journal();
		this.faults = new Faults();
		this.closers = [];
		this.k8s = new KubernetesApi(this);
		this.vault = new Vault(this, { mount: opts.vaultMount });
		this.grafana = new Grafana(this);
		this.control = new Control(this);
		this.adminTokens = {
			kubernetes: randomBytes(24).toString('hex'),
			vault: 'hvs.' + randomBytes(18).toString('base64url'),
			grafana: 'glsa_' + randomBytes(24).toString('base64url'),
		};
		this.saJwt = serviceAccountJwt();
		this.builtinK8sTokens = new Set([this.adminTokens.kubernetes, this.saJwt]);
		this.k8s.tokens.set(this.adminTokens.kubernetes, { user: 'kubernetes-admin', rules: null });
		this.k8s.tokens.set(this.saJwt, { user: 'system:serviceaccount:tenancy-system:tenancy', rules: null });
		this.vault.tokens.set(this.adminTokens.vault, { policies: null, expires: 0, policyNames: ['root'] });
		this.vault.roles.set('tenancy', {
			jwt: this.saJwt, ttl: 3600, serviceAccount: 'tenancy', namespace: 'tenancy-system', uid: '6a0f3f43-1d2c-4a53-9c4d-5ad3a0e0c0de',
			policies: [{ path: `${opts.vaultMount}/*`, capabilities: ['create', 'read', 'update', 'patch', 'delete', 'list'] }],
		});
		this.grafana.tokens.add(this.adminTokens.grafana);
	}

	log(msg)
	{
		process.stderr.write(`${new Date().toISOString()} ${msg}\n`);
	}

	onClose(fn)
	{
		this.closers.push(fn);
	}

	seedCluster()
	{
		const ns = findByKind('v1', 'Namespace');
		for (const name of INITIAL_NAMESPACES)
			this.k8s.store.create(ns, { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name } }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } });
	}

	reset()
	{
		this.controllers.stop();
		this.controllers.outcomes = [];
		this.k8s.store.clear();
		this.seedCluster();
		this.vault.kv.clear();
		this.grafana.dashboards.clear();
		this.grafana.folders.clear();
		this.faults.clear();
		this.journal.clear();
	}

	state()
	{
		const objects = {};
		for (const [key, obj] of Object.entries(this.k8s.store.dump()))
		{
			if (key.startsWith('secrets/') && obj.data)
				obj.data = Object.fromEntries(Object.keys(obj.data).map((k) => [k, '***']));
			objects[key] = obj;
		}
		return {
			kubernetes: { resourceVersion: String(this.k8s.store.rv), objects },
			vault: this.vault.dump(),
			grafana: this.grafana.dump(),
			faults: this.faults.describe(),
			helmReleaseOutcomes: this.controllers.outcomes,
			journalSeq: this.journal.seq,
		};
	}

	async start()
	{
		const { dir } = this.opts;
		fs.mkdirSync(dir, { recursive: true });
		writeFile(dir, 'sim.pid', `${process.pid}\n`, 0o644);
		await loadValidators();
		let tls = null;
		if (this.opts.tls)
			tls = makeCertificates(dir);
		this.controllers = new Controllers(this, this.k8s, {
			helmReadyDelayMs: this.opts.helmReadyDelayMs,
			namespaceDeleteDelayMs: this.opts.namespaceDeleteDelayMs,
			podStartDelayMs: this.opts.podStartDelayMs,
			caPem: tls?.caPem,
		});
		this.seedCluster();
		const tlsOpts = tls ? { key: tls.key, cert: tls.cert } : null;
		this.listeners = {
			kubernetes: new Listener(this, this.k8s, tlsOpts),
			vault: new Listener(this, this.vault, tlsOpts),
			grafana: new Listener(this, this.grafana, tlsOpts),
			control: new Listener(this, this.control, null),
		};
		// kubectl (client-go) never sends credentials over plain HTTP, so
		// without --tls the kubeconfig points at a second, TLS listener of
		// the same API (certificates in DIR/kubectl-tls/).
		let kubectlServer = null;
		let kubectlCa = tls ? path.resolve(dir, 'ca.crt') : null;
		if (!tls)
		{
			const sub = path.join(dir, 'kubectl-tls');
			fs.mkdirSync(sub, { recursive: true });
			const kt = makeCertificates(sub);
			this.listeners.kubectl = new Listener(this, this.k8s, { key: kt.key, cert: kt.cert });
			kubectlCa = path.resolve(sub, 'ca.crt');
		}
		const endpoints = {};
		for (const [name, l] of Object.entries(this.listeners))
			endpoints[name] = await l.listen();
		kubectlServer = endpoints.kubectl || endpoints.kubernetes;
		delete endpoints.kubectl;
		this.endpoints = endpoints;

		writeFile(dir, 'k8s-token', this.adminTokens.kubernetes + '\n');
		writeFile(dir, 'vault-token', this.adminTokens.vault + '\n');
		writeFile(dir, 'grafana-token', this.adminTokens.grafana + '\n');
		writeFile(dir, 'sa.jwt', this.saJwt + '\n');
		const kubeconfig = [
			'apiVersion: v1',
			'kind: Config',
			'clusters:',
			'- name: tenancy-sim',
			'  cluster:',
			`    server: ${kubectlServer}`,
			`    certificate-authority: ${kubectlCa}`,
			'users:',
			'- name: tenancy-sim-admin',
			'  user:',
			`    token: ${this.adminTokens.kubernetes}`,
			'contexts:',
			'- name: tenancy-sim',
			'  context:',
			'    cluster: tenancy-sim',
			'    user: tenancy-sim-admin',
			'    namespace: default',
			'current-context: tenancy-sim',
			'',
		].join('\n');
		writeFile(dir, 'kubeconfig', kubeconfig);
		writeFile(dir, 'endpoints.json', JSON.stringify(endpoints, null, 2) + '\n', 0o644);
		this.log(`listening: ${JSON.stringify(endpoints)}${tls ? ' (TLS, HTTP/2 + HTTP/1.1)' : ''}`);
	}

	async stop()
	{
		this.controllers?.stop();
		for (const fn of this.closers)
		{
			try
			{
				fn();
			}
			catch (e)
			{
				/* already gone */
			}
		}
		await Promise.all(Object.values(this.listeners || {}).map((l) => l.close()));
	}
}

async function main()
{
	let opts;
	try
	{
		opts = parseArgs(process.argv.slice(2));
	}
	catch (e)
	{
		process.stderr.write(`tenancy platform simulator: ${e.message}\n`);
		process.exit(2);
	}
	const sim = new Simulator(opts);
	const shutdown = async (sig) =>
	{
		sim.log(`${sig}: stopping`);
		const force = setTimeout(() => process.exit(0), 2000);
		force.unref();
		await sim.stop();
		fs.rmSync(path.join(opts.dir, 'sim.pid'), { force: true });
		process.exit(0);
	};
	process.on('SIGTERM', () => shutdown('SIGTERM'));
	process.on('SIGINT', () => shutdown('SIGINT'));
	process.on('uncaughtException', (e) => sim.log(`uncaught: ${e.stack}`));
	try
	{
		await sim.start();
	}
	catch (e)
	{
		sim.log(`start failed: ${e.stack}`);
		fs.rmSync(path.join(opts.dir, 'sim.pid'), { force: true });
		process.exit(1);
	}
}

if (process.argv[1] && import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href)
	main();
