// control.js — the simulator's own API for tests (no auth, loopback only).
//
//   GET    /__sim/health                  {"ok":true}
//   GET    /__sim/journal[?since=N]       journal entries (JSON array)
//   DELETE /__sim/journal                 clear the journal
//   GET    /__sim/state                   dump of Kubernetes objects, Vault KV (masked), Grafana
//   GET    /__sim/faults                  current fault set with per-rule counters
//   POST   /__sim/faults                  replace the fault set {seed, rules}
//   DELETE /__sim/faults                  no faults
//   GET    /__sim/tokens                  Kubernetes tokens (users and rules, tokens masked)
//   POST   /__sim/tokens                  add/replace a Kubernetes token {token, user?, rules}
//   DELETE /__sim/tokens[/TOKEN]          remove one token, or all but the admin and SA tokens
//   POST   /__sim/vault-tokens            add/replace a Vault token {token, name?, policies:[{path, capabilities}], ttl?}
//   POST   /__sim/vault-roles             add/replace a Kubernetes-auth role {role, jwt?, policies, ttl?}
//   POST   /__sim/helmrelease-outcome     {namespace?, name?, ready:false, reason?, message?, delayMs?}
//   DELETE /__sim/helmrelease-outcome     every HelmRelease succeeds again
//   POST   /__sim/reset                   forget all objects, secrets, dashboards, faults, outcomes and the journal
//   GET    /charts/FILE                   a Helm chart repository (index.yaml, chart .tgz) from --charts-dir

import fs from 'node:fs';
import path from 'node:path';
import { FaultError } from './faults.js';

const CAPS = new Set(['create', 'read', 'update', 'patch', 'delete', 'list', 'sudo', 'deny']);

function bad(message)
{
	return { status: 400, body: { error: message } };
}

function ok(body = { ok: true }, status = 200)
{
	return { status, body };
}

function checkPolicies(policies)
{
	if (!Array.isArray(policies))
		return 'policies: must be an array of {path, capabilities}';
	for (const [i, p] of policies.entries())
	{
		if (!p || typeof p.path !== 'string' || !Array.isArray(p.capabilities))
			return `policies[${i}]: must be {path, capabilities}`;
		const badCap = p.capabilities.find((c) => !CAPS.has(c));
		if (badCap)
			return `policies[${i}].capabilities: unknown capability "${badCap}"`;
	}
	return null;
}

function checkRules(rules)
{
	if (!Array.isArray(rules))
		return 'rules: must be an array of {verbs, resources, apiGroups?, resourceNames?, namespaces?}';
	for (const [i, r] of rules.entries())
	{
		if (!r || !Array.isArray(r.verbs) || !Array.isArray(r.resources))
			return `rules[${i}]: verbs and resources must be arrays`;
		for (const f of ['apiGroups', 'resourceNames', 'namespaces'])
			if (r[f] !== undefined && !Array.isArray(r[f]))
				return `rules[${i}].${f}: must be an array`;
	}
	return null;
}

export class Control
{
	constructor(sim)
	{
		this.sim = sim;
		this.name = 'control';
	}

	// A static Helm chart repository, as 'helm repo index' lays it out: what
	// a real helm fetches with --repo (index.yaml, then the chart archive).
	chartFile(name)
	{
		const dir = this.sim.opts.chartsDir;
		if (!dir)
			return { status: 404, body: { error: 'no chart repository (--charts-dir)' } };
		const file = path.join(dir, name);
		if (!fs.existsSync(file))
			return { status: 404, body: { error: `no such chart file: ${name}` } };
		const type = name.endsWith('.yaml') ? 'application/x-yaml' : 'application/gzip';
		return { status: 200, headers: { 'content-type': type }, body: fs.readFileSync(file) };
	}

	classify(ctx)
	{
		ctx.info.fields = {};
	}

	faultResult()
	{
		return { status: 500, body: {} };
	}

	async handle(ctx)
	{
		const sim = this.sim;
		let body;
		try
		{
			const t = ctx.body.toString('utf8');
			body = t.trim() ? JSON.parse(t) : {};
		}
		catch (e)
		{
			return bad(`invalid JSON: ${e.message}`);
		}
		const route = `${ctx.method} ${ctx.path.replace(/\/+$/, '')}`;
		let m;
		if (ctx.method === 'GET' && (m = ctx.path.match(/^\/charts\/([A-Za-z0-9][A-Za-z0-9._-]*)$/)))
			return this.chartFile(m[1]);
		switch (route)
		{
			case 'GET /__sim/health':
				return ok({ ok: true, pid: process.pid });
			case 'GET /__sim/journal':
				return ok(sim.journal.since(Number(ctx.query.get('since') || 0)));
			case 'DELETE /__sim/journal':
				sim.journal.clear();
				return ok({ ok: true, seq: sim.journal.seq });
			case 'GET /__sim/state':
				return ok(sim.state());
			case 'GET /__sim/faults':
				return ok(sim.faults.describe());
			case 'POST /__sim/faults':
				try
				{
					sim.faults.set(body);
				}
				catch (e)
				{
					if (e instanceof FaultError)
						return bad(e.message);
					throw e;
				}
				return ok(sim.faults.describe());
			case 'DELETE /__sim/faults':
				sim.faults.clear();
				return ok();
			case 'GET /__sim/tokens':
				return ok([...sim.k8s.tokens.entries()].map(([t, v]) => ({ token: t.slice(0, 4) + '***', user: v.user, rules: v.rules })));
			case 'POST /__sim/tokens':
				{
					if (typeof body.token !== 'string' || body.token.length < 8 || /\s/.test(body.token))
						return bad('token: a string of at least 8 characters without spaces is required');
					if (body.rules !== null)
					{
						const err = checkRules(body.rules);
						if (err)
							return bad(err);
					}
					sim.k8s.tokens.set(body.token, { user: body.user || `token-${body.token.slice(0, 6)}`, rules: body.rules });
					return ok({ ok: true }, 201);
				}
			case 'DELETE /__sim/tokens':
				for (const t of [...sim.k8s.tokens.keys()])
					if (!sim.builtinK8sTokens.has(t))
						sim.k8s.tokens.delete(t);
				return ok();
			case 'POST /__sim/vault-tokens':
				{
					if (typeof body.token !== 'string' || body.token.length < 8)
						return bad('token: a string of at least 8 characters is required');
					const err = checkPolicies(body.policies);
					if (err)
						return bad(err);
					const ttl = Number(body.ttl || 0);
					if (body.name !== undefined && (typeof body.name !== 'string' || !/^[A-Za-z0-9:._@-]{1,100}$/.test(body.name)))
						return bad('name: 1 to 100 letters, digits and ":._@-"');
					sim.vault.tokens.set(body.token, { policies: body.policies, expires: ttl ? Date.now() + ttl * 1000 : 0, ttl, policyNames: ['custom'], name: body.name });
					return ok({ ok: true }, 201);
				}
			case 'POST /__sim/vault-roles':
				{
					if (typeof body.role !== 'string' || !body.role)
						return bad('role: required');
					const err = checkPolicies(body.policies);
					if (err)
						return bad(err);
					const prev = sim.vault.roles.get(body.role) || {};
					sim.vault.roles.set(body.role, { ...prev, jwt: body.jwt || prev.jwt || sim.saJwt, policies: body.policies, ttl: Number(body.ttl || prev.ttl || 3600), serviceAccount: prev.serviceAccount || 'tenancy', namespace: prev.namespace || 'tenancy-system' });
					return ok({ ok: true }, 201);
				}
			case 'POST /__sim/helmrelease-outcome':
				{
					if (body.ready === undefined)
						body.ready = false;
					if (typeof body.ready !== 'boolean')
						return bad('ready: must be a boolean');
					const o = { namespace: body.namespace, name: body.name, ready: body.ready, reason: body.reason, message: body.message, delayMs: body.delayMs };
					const ctl = sim.controllers;
					ctl.outcomes = ctl.outcomes.filter((x) => !(x.namespace === o.namespace && x.name === o.name));
					ctl.outcomes.push(o);
					return ok({ ok: true, outcomes: ctl.outcomes }, 201);
				}
			case 'DELETE /__sim/helmrelease-outcome':
				sim.controllers.outcomes = [];
				return ok();
			case 'POST /__sim/reset':
				sim.reset();
				return ok();
			default:
				break;
		}
		if (ctx.method === 'DELETE' && (m = ctx.path.match(/^\/__sim\/tokens\/(.+)$/)))
		{
			if (!sim.k8s.tokens.delete(m[1]))
				return { status: 404, body: { error: 'no such token' } };
			return ok();
		}
		return { status: 404, body: { error: `no such control endpoint: ${route}` } };
	}
}
