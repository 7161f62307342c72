// vault.js — Vault: KV v2 secrets engine at one mount, token auth with
// path policies, Kubernetes auth login, sys/health.
//
// Paths (mount "secret" by default):
//   {mount}/data/P       GET (?version=N), POST/PUT ({data, options:{cas}}), PATCH (merge-patch), DELETE
//   {mount}/metadata/P   GET, LIST (or GET ?list=true), POST/PUT (max_versions, cas_required, custom_metadata), PATCH, DELETE
//   {mount}/delete/P     POST/PUT {versions}    soft delete
//   {mount}/undelete/P   POST/PUT {versions}
//   {mount}/destroy/P    POST/PUT {versions}    permanent
//   {mount}/config       GET, POST

import { randomBytes, randomUUID } from 'node:crypto';
import { maskValues } from './journal.js';

const DEFAULT_MAX_VERSIONS = 10;
const OPEN = new Set(['sys/health', 'auth/kubernetes/login', 'sys/seal-status']);

function now()
{
	return new Date().toISOString().replace('Z', '000Z');
}

function errors(status, ...messages)
{
	return { status, body: { errors: messages } };
}

function envelope(data, extra)
{
	return {
		request_id: randomUUID(), lease_id: '', renewable: false, lease_duration: 0,
		data, wrap_info: null, warnings: null, auth: null, mount_type: 'kv', ...extra,
	};
}

function newToken()
{
	return 'hvs.' + randomBytes(18).toString('base64url');
}

// Does one policy path pattern match a request path? Vault globs: a
// trailing "*" is a prefix match, "+" matches one segment.
function patternMatches(pattern, path)
{
	const glob = pattern.endsWith('*');
	const base = glob ? pattern.slice(0, -1) : pattern;
	const re = new RegExp('^' + base.split('+').map((s) => s.replace(/[.*?^${}()|[\]\\]/g, '\\$&')).join('[^/]+') + (glob ? '' : '$'));
	return re.test(path);
}

// The rule that governs a path: an exact match beats a glob, a longer
// pattern beats a shorter one.
function governingRule(policies, path)
{
	let best = null;
	for (const rule of policies)
	{
		if (!patternMatches(rule.path, path))
			continue;
		const score = (rule.path.endsWith('*') ? 0 : 1e6) + rule.path.length;
		if (!best || score > best.score)
			best = { rule, score };
	}
	return best?.rule || null;
}

export class Vault
{
	constructor(sim, options)
	{
		this.sim = sim;
		this.name = 'vault';
		this.extraMethods = true;		/* LIST */
		this.mount = options.mount || 'secret';
		this.tokens = new Map();		/* token -> {policies: [{path, capabilities}] | null (root), expires, meta} */
		this.roles = new Map();			/* role -> {jwt, policies, ttl} */
		this.kv = new Map();			/* path -> {versions: Map<n, {data, created_time, deletion_time, destroyed}>, current, max_versions, cas_required, custom_metadata, created_time, updated_time} */
		this.config = { max_versions: 0, cas_required: false, delete_version_after: '0s' };
	}

	// ----------------------------------------------------------- classify

	route(path)
	{
		const p = path.replace(/^\/v1\//, '');
		const m = p.match(new RegExp(`^${this.mount.replace(/[.*?^${}()|[\]\\]/g, '\\$&')}/(data|metadata|delete|undelete|destroy|config)(?:/(.*))?$`));
		if (m)
			return { kind: 'kv', op: m[1], key: (m[2] || '').replace(/\/+$/, (s) => (m[1] === 'metadata' ? '/' : '')), full: p };
		return { kind: 'other', full: p };
	}

	capability(ctx, r)
	{
		const method = ctx.method === 'GET' && ctx.query.get('list') === 'true' ? 'LIST' : ctx.method;
		switch (method)
		{
			case 'GET': return 'read';
			case 'LIST': return 'list';
			case 'DELETE': return 'delete';
			case 'PATCH': return 'patch';
			case 'POST':
			case 'PUT':
				if (r.kind === 'kv' && (r.op === 'data' || r.op === 'metadata'))
					return this.kv.has(r.key) ? 'update' : 'create';
				return 'update';
			default: return method.toLowerCase();
		}
	}

	classify(ctx)
	{
		const r = this.route(ctx.path);
		ctx.route = r;
		let body;
		try
		{
			const t = ctx.body.toString('utf8');
			body = t.trim() ? JSON.parse(t) : undefined;
		}
		catch (e)
		{
			body = '<unparseable>';
		}
		ctx.parsedBody = body;
		let masked = body;
		if (body && typeof body === 'object' && !Array.isArray(body))
		{
			masked = { ...body };
			if (r.kind === 'kv' && r.op === 'data' && masked.data !== undefined)
				masked.data = maskValues(masked.data);
			if (r.full === 'auth/kubernetes/login' && masked.jwt !== undefined)
				masked.jwt = '***';
		}
		ctx.info.body = masked;
		ctx.info.fields = { verb: this.capability(ctx, r), resource: r.full, namespace: null, name: null };
	}

	faultResult(rule)
	{
		const msg = rule.message || (rule.status === 429 ? 'rate limit quota exceeded' : rule.status === 503 ? 'Vault is sealed' : 'injected fault');
		return errors(rule.status, msg);
	}

	// --------------------------------------------------------------- auth

	identity(ctx)
	{
		let token = ctx.headers['x-vault-token'];
		if (!token)
		{
			const m = (ctx.headers.authorization || '').match(/^Bearer\s+(\S+)$/i);
			token = m ? m[1] : undefined;
		}
		if (!token)
			return null;
		const t = this.tokens.get(token);
		if (!t)
			return null;
		if (t.expires && Date.now() > t.expires)
		{
			this.tokens.delete(token);
			return null;
		}
		return { token, ...t };
	}

	// Who made the request, for the journal: the token's display name as
	// Vault's token lookup shows it ("root", "kubernetes-<ns>-<sa>" for a
	// Kubernetes login, the name given to an added token), or null.  Never
	// the token itself.
	principal(ctx)
	{
		let token = ctx.headers['x-vault-token'];
		if (!token)
		{
			const m = (ctx.headers.authorization || '').match(/^Bearer\s+(\S+)$/i);
			token = m ? m[1] : undefined;
		}
		const t = token === undefined ? undefined : this.tokens.get(token);
		if (!t)
			return null;
		if (t.name)
			return t.name;
		if (t.meta)
			return `kubernetes-${t.meta.service_account_namespace}-${t.meta.service_account_name}`;
		return t.policies ? 'token' : 'root';
	}

	permitted(id, path, cap)
	{
		if (!id.policies)
			return true;
		const rule = governingRule(id.policies, path);
		if (!rule || rule.capabilities.includes('deny'))
			return false;
		return rule.capabilities.includes(cap);
	}

	// -------------------------------------------------------------- handle

	async handle(ctx)
	{
		const r = ctx.route;
		if (!ctx.path.startsWith('/v1/'))
			return errors(404);
		const body = ctx.parsedBody;
		if (body === '<unparseable>')
			return errors(400, 'error parsing JSON');
		if (r.full === 'sys/health')
			return this.health(ctx);
		if (r.full === 'sys/seal-status')
			return { status: 200, body: { type: 'shamir', initialized: true, sealed: false, t: 1, n: 1, progress: 0, version: '1.15.6', cluster_name: 'vault-cluster-sim' } };
		if (r.full === 'auth/kubernetes/login')
			return this.kubernetesLogin(ctx, body || {});
		const id = this.identity(ctx);
		if (!id)
			return errors(403, 'permission denied');
		if (r.full === 'auth/token/lookup-self')
			return this.lookupSelf(id);
		if (r.full === 'auth/token/renew-self')
			return this.renewSelf(id);
		const cap = ctx.info.fields.verb;
		if (!this.permitted(id, r.full, cap))
			return errors(403, '1 error occurred:\n\t* permission denied\n\n');
		if (r.kind !== 'kv')
			return errors(404, '1 error occurred:\n\t* unsupported path\n\n');
		const method = cap === 'list' ? 'LIST' : ctx.method;
		switch (r.op)
		{
			case 'data': return this.data(ctx, method, r.key, body);
			case 'metadata': return this.metadata(ctx, method, r.key, body);
			case 'delete':
			case 'undelete':
			case 'destroy': return this.versionsOp(method, r.op, r.key, body);
			case 'config': return this.configOp(method, body);
		}
		return errors(404);
	}

	health(ctx)
	{
		return {
			status: 200,
			body: {
				initialized: true, sealed: false, standby: false, performance_standby: false,
				replication_performance_mode: 'disabled', replication_dr_mode: 'disabled',
				server_time_utc: Math.floor(Date.now() / 1000), version: '1.15.6',
				cluster_name: 'vault-cluster-sim', cluster_id: '00000000-0000-0000-0000-000000000000',
			},
		};
	}

	issueToken(policies, ttlSeconds, meta, policyNames)
	{
		const token = newToken();
		const accessor = randomBytes(12).toString('base64url');
		this.tokens.set(token, { policies, expires: ttlSeconds ? Date.now() + ttlSeconds * 1000 : 0, ttl: ttlSeconds, meta, policyNames, accessor, created: Math.floor(Date.now() / 1000) });
		return { token, accessor };
	}

	kubernetesLogin(ctx, body)
	{
		if (ctx.method !== 'POST' && ctx.method !== 'PUT')
			return errors(405, '1 error occurred:\n\t* unsupported operation\n\n');
		if (!body.role)
			return errors(400, 'missing role');
		if (!body.jwt)
			return errors(400, 'missing jwt');
		const role = this.roles.get(body.role);
		if (!role)
			return errors(400, `invalid role name "${body.role}"`);
		if (body.jwt !== role.jwt)
			return errors(403, 'permission denied');
		const meta = { role: body.role, service_account_name: role.serviceAccount, service_account_namespace: role.namespace, service_account_uid: role.uid, service_account_secret_name: '' };
		const { token, accessor } = this.issueToken(role.policies, role.ttl, meta, ['default', body.role]);
		return {
			status: 200,
			body: envelope(null, {
				mount_type: '',
				auth: {
					client_token: token, accessor, policies: ['default', body.role], token_policies: ['default', body.role],
					metadata: meta, lease_duration: role.ttl, renewable: true, entity_id: randomUUID(), token_type: 'service', orphan: true,
				},
			}),
		};
	}

	lookupSelf(id)
	{
		const ttl = id.expires ? Math.max(0, Math.round((id.expires - Date.now()) / 1000)) : 0;
		return {
			status: 200,
			body: envelope({
				accessor: id.accessor || '', creation_time: id.created || 0, creation_ttl: id.ttl || 0, display_name: id.meta ? `kubernetes-${id.meta.service_account_namespace}-${id.meta.service_account_name}` : 'token',
				entity_id: '', expire_time: id.expires ? new Date(id.expires).toISOString() : null, explicit_max_ttl: 0, id: id.token,
				meta: id.meta || null, num_uses: 0, orphan: true, path: id.meta ? 'auth/kubernetes/login' : 'auth/token/create',
				policies: id.policyNames || (id.policies ? ['default'] : ['root']), renewable: !!id.expires, ttl, type: 'service',
			}, { mount_type: 'token' }),
		};
	}

	renewSelf(id)
	{
		const t = this.tokens.get(id.token);
		if (t.ttl)
			t.expires = Date.now() + t.ttl * 1000;
		return {
			status: 200,
			body: envelope(null, { mount_type: 'token', auth: { client_token: id.token, accessor: t.accessor, policies: t.policyNames || ['root'], token_policies: t.policyNames || ['root'], metadata: t.meta || null, lease_duration: t.ttl || 0, renewable: !!t.ttl } }),
		};
	}

	// ----------------------------------------------------------------- KV

	maxVersions(entry)
	{
		return entry.max_versions || this.config.max_versions || DEFAULT_MAX_VERSIONS;
	}

	versionMeta(v, n)
	{
		return { created_time: v.created_time, custom_metadata: null, deletion_time: v.deletion_time, destroyed: v.destroyed, version: n };
	}

	data(ctx, method, key, body)
	{
		if (!key)
			return errors(404, '1 error occurred:\n\t* unsupported path\n\n');
		const entry = this.kv.get(key);
		switch (method)
		{
			case 'GET':
				{
					if (!entry)
						return errors(404);
					const n = Number(ctx.query.get('version') || 0) || entry.current;
					const v = entry.versions.get(n);
					if (!v)
						return errors(404);
					const md = { ...this.versionMeta(v, n), custom_metadata: entry.custom_metadata || null };
					if (v.deletion_time || v.destroyed)
						return { status: 404, body: envelope({ data: null, metadata: md }) };
					return { status: 200, body: envelope({ data: v.data, metadata: md }) };
				}
			case 'POST':
			case 'PUT':
				{
					if (!body || typeof body.data !== 'object' || body.data === null || Array.isArray(body.data))
						return errors(400, 'no data provided');
					const err = this.checkCas(entry, body.options);
					if (err)
						return err;
					return this.writeVersion(key, body.data);
				}
			case 'PATCH':
				{
					const ct = (ctx.headers['content-type'] || '').split(';')[0].trim();
					if (ct !== 'application/merge-patch+json')
						return errors(415, `Unsupported Content-Type "${ct}" in patch request; expected "application/merge-patch+json"`);
					if (!body || typeof body.data !== 'object' || body.data === null)
						return errors(400, 'no data provided');
					if (!entry)
						return errors(404);
					const cur = entry.versions.get(entry.current);
					if (!cur || cur.deletion_time || cur.destroyed)
						return errors(404);
					const err = this.checkCas(entry, body.options, true);
					if (err)
						return err;
					const merged = { ...cur.data };
					for (const [k, v] of Object.entries(body.data))
					{
						if (v === null)
							delete merged[k];
						else
							merged[k] = v;
					}
					return this.writeVersion(key, merged);
				}
			case 'DELETE':
				{
					if (entry)
					{
						const v = entry.versions.get(entry.current);
						if (v && !v.deletion_time)
							v.deletion_time = now();
						entry.updated_time = now();
					}
					return { status: 204 };
				}
			default:
				return errors(405, '1 error occurred:\n\t* unsupported operation\n\n');
		}
	}

	checkCas(entry, options, patch)
	{
		const cas = options && typeof options === 'object' ? options.cas : undefined;
		const required = (entry?.cas_required) || this.config.cas_required;
		if (cas === undefined || cas === null)
		{
			if (required)
				return errors(400, 'check-and-set parameter required for this call');
			return null;
		}
		const current = entry ? entry.current : 0;
		if (Number(cas) !== current)
			return errors(400, 'check-and-set parameter did not match the current version');
		return null;
	}

	writeVersion(key, data)
	{
		let entry = this.kv.get(key);
		const t = now();
		if (!entry)
		{
			entry = { versions: new Map(), current: 0, oldest: 0, max_versions: 0, cas_required: false, custom_metadata: null, created_time: t, updated_time: t };
			this.kv.set(key, entry);
		}
		const n = entry.current + 1;
		entry.versions.set(n, { data: structuredClone(data), created_time: t, deletion_time: '', destroyed: false });
		entry.current = n;
		entry.updated_time = t;
		const max = this.maxVersions(entry);
		for (const old of [...entry.versions.keys()].sort((a, b) => a - b))
			if (entry.versions.size > max)
				entry.versions.delete(old);
		entry.oldest = Math.min(...entry.versions.keys());
		return { status: 200, body: envelope(this.versionMeta(entry.versions.get(n), n)) };
	}

	metadata(ctx, method, key, body)
	{
		if (method === 'LIST')
		{
			const prefix = key === '' || key.endsWith('/') ? key : key + '/';
			const keys = new Set();
			for (const k of this.kv.keys())
			{
				if (!k.startsWith(prefix))
					continue;
				const rest = k.slice(prefix.length);
				const slash = rest.indexOf('/');
				keys.add(slash >= 0 ? rest.slice(0, slash + 1) : rest);
			}
			if (keys.size === 0)
				return errors(404);
			return { status: 200, body: envelope({ keys: [...keys].sort() }) };
		}
		key = key.replace(/\/+$/, '');
		const entry = this.kv.get(key);
		switch (method)
		{
			case 'GET':
				{
					if (!entry)
						return errors(404);
					const versions = {};
					for (const [n, v] of entry.versions)
						versions[n] = { created_time: v.created_time, deletion_time: v.deletion_time, destroyed: v.destroyed };
					return {
						status: 200,
						body: envelope({
							cas_required: entry.cas_required, created_time: entry.created_time, current_version: entry.current,
							custom_metadata: entry.custom_metadata, delete_version_after: '0s', max_versions: entry.max_versions,
							oldest_version: entry.oldest, updated_time: entry.updated_time, versions,
						}),
					};
				}
			case 'POST':
			case 'PUT':
			case 'PATCH':
				{
					const b = body || {};
					let e = entry;
					if (!e)
					{
						if (method === 'PATCH')
							return errors(404);
						const t = now();
						e = { versions: new Map(), current: 0, oldest: 0, max_versions: 0, cas_required: false, custom_metadata: null, created_time: t, updated_time: t };
						this.kv.set(key, e);
					}
					if (b.max_versions !== undefined)
						e.max_versions = Number(b.max_versions);
					if (b.cas_required !== undefined)
						e.cas_required = !!b.cas_required;
					if (b.custom_metadata !== undefined)
						e.custom_metadata = method === 'PATCH' ? { ...(e.custom_metadata || {}), ...b.custom_metadata } : b.custom_metadata;
					e.updated_time = now();
					return { status: 204 };
				}
			case 'DELETE':
				this.kv.delete(key);
				return { status: 204 };
			default:
				return errors(405, '1 error occurred:\n\t* unsupported operation\n\n');
		}
	}

	versionsOp(method, op, key, body)
	{
		if (method !== 'POST' && method !== 'PUT')
			return errors(405, '1 error occurred:\n\t* unsupported operation\n\n');
		const versions = body?.versions;
		if (!Array.isArray(versions) || versions.length === 0)
			return errors(400, 'no version number provided');
		const entry = this.kv.get(key);
		if (!entry)
			return { status: 204 };
		for (const n of versions.map(Number))
		{
			const v = entry.versions.get(n);
			if (!v || v.destroyed)
				continue;
			if (op === 'delete' && !v.deletion_time)
				v.deletion_time = now();
			else if (op === 'undelete')
				v.deletion_time = '';
			else if (op === 'destroy')
			{
				v.destroyed = true;
				v.data = null;
			}
		}
		entry.updated_time = now();
		return { status: 204 };
	}

	configOp(method, body)
	{
		if (method === 'GET')
			return { status: 200, body: envelope({ ...this.config }) };
		if (method === 'POST' || method === 'PUT')
		{
			if (body?.max_versions !== undefined)
				this.config.max_versions = Number(body.max_versions);
			if (body?.cas_required !== undefined)
				this.config.cas_required = !!body.cas_required;
			return { status: 204 };
		}
		return errors(405, '1 error occurred:\n\t* unsupported operation\n\n');
	}

	dump()
	{
		const out = {};
		for (const [k, e] of this.kv)
		{
			const versions = {};
			for (const [n, v] of e.versions)
				versions[n] = { ...v, data: v.data ? maskValues(v.data) : null };
			out[k] = { current_version: e.current, max_versions: e.max_versions, cas_required: e.cas_required, custom_metadata: e.custom_metadata, versions };
		}
		return { mount: this.mount, secrets: out, roles: [...this.roles.keys()], tokens: this.tokens.size };
	}
}
