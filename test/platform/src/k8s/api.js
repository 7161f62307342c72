// api.js — the Kubernetes API service: routing, authentication and
// authorization, and the REST verbs over the store.

import { randomBytes } from 'node:crypto';
import YAML from 'yaml';
import { RESOURCES, findResource } from './resources.js';
import { Store, timestamp } from './store.js';
import * as S from './status.js';
import { validateObject } from './validation.js';
import { applyDefaults, typeChecks } from './defaults.js';
import { parseLabelSelector, matchLabels, parseFieldSelector, matchFields } from './selectors.js';
import { mergePatch, jsonPatch, strategicMergePatch, serverSideApply, trackUpdate, defaultManager, sameData } from './patch.js';
import { discovery, openapi, wantsTable, toTable } from './discovery.js';
import { maskValues, MASK } from '../journal.js';
import { decodeProtobuf } from './protobuf.js';
import { clone } from '../clone.js';

const PATCH_TYPES = {
	'application/json-patch+json': 'json',
	'application/merge-patch+json': 'merge',
	'application/strategic-merge-patch+json': 'strategic',
	'application/apply-patch+yaml': 'apply',
};
const OPEN_PATHS = new Set(['/version', '/version/', '/healthz', '/readyz', '/livez']);

// Parse "/api/v1/..." or "/apis/g/v/..." into a resource request.
export function parseK8sPath(path)
{
	let m = path.match(/^\/api\/(v1)\/(.*)$/);
	let group = '';
	let version;
	let rest;
	if (m)
	{
		version = m[1];
		rest = m[2];
	}
	else if ((m = path.match(/^\/apis\/([^/]+)\/([^/]+)\/(.*)$/)))
	{
		group = m[1];
		version = m[2];
		rest = m[3];
	}
	else
		return null;
	const segs = rest.split('/').filter((s) => s !== '');
	if (segs.length === 0)
		return null;
	let namespace;
	if (segs[0] === 'namespaces' && segs.length >= 3 && findResource(group, version, segs[2])?.namespaced)
	{
		namespace = segs[1];
		segs.splice(0, 2);
	}
	const res = findResource(group, version, segs[0]);
	if (!res || segs.length > 3)
		return { group, version, unknown: true };
	return { group, version, res, namespace, name: segs[1], subresource: segs[2] };
}

function verbFor(method, r, query)
{
	const watch = query.get('watch') === 'true' || query.get('watch') === '1';
	switch (method)
	{
		case 'GET': return r.name ? 'get' : watch ? 'watch' : 'list';
		case 'POST': return 'create';
		case 'PUT': return 'update';
		case 'PATCH': return 'patch';
		case 'DELETE': return r.name ? 'delete' : 'deletecollection';
		default: return method.toLowerCase();
	}
}

const PROTOBUF = 'application/vnd.kubernetes.protobuf';

function parseBody(ctx)
{
	if ((ctx.headers['content-type'] || '').split(';')[0].trim() === PROTOBUF)
	{
		const obj = decodeProtobuf(ctx.body);
		if (obj === null)
			throw S.unsupportedMediaType(PROTOBUF, ['application/json', 'application/yaml']);
		return obj;
	}
	const text = ctx.body.toString('utf8');
	if (text.trim() === '')
		return undefined;
	const ct = (ctx.headers['content-type'] || '').split(';')[0].trim();
	if (ct === 'application/apply-patch+yaml' || ct === 'application/yaml')
	{
		// JSON is YAML, and what most clients send: parse it as such first
		// (the YAML parser costs more than the rest of an apply)
		if (/^\s*\{/.test(text))
		{
			try
			{
				return JSON.parse(text);
			}
			catch (e)
			{
				/* not JSON after all: YAML in flow style */
			}
		}
		return YAML.parse(text);
	}
	return JSON.parse(text);
}

// Secret values never reach the journal.
function maskSecretBody(body)
{
	if (Array.isArray(body))
		return body.map((op) => (op && typeof op === 'object' && 'value' in op ? { ...op, value: typeof op.value === 'object' && op.value !== null ? maskValues(op.value) : MASK } : op));
	if (body && typeof body === 'object')
	{
		const out = { ...body };
		if (out.data !== undefined)
			out.data = maskValues(out.data);
		if (out.stringData !== undefined)
			out.stringData = maskValues(out.stringData);
		return out;
	}
	return body === undefined ? undefined : MASK;
}

function randomSuffix()
{
	const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
	let s = '';
	for (const b of randomBytes(5))
		s += alphabet[b % alphabet.length];
	return s;
}

// The object as clients see it (typed lists carry kind/apiVersion only on
// the list for built-in types).
function withType(res, obj)
{
	return { apiVersion: res.apiVersion, kind: res.kind, ...obj };
}

// The keys the comparisons below leave out (canonicalJson's omit): the
// objects compare as data, whatever the order of their keys.
const OMIT_RV = new Map([['metadata', new Map([['resourceVersion', true], ['managedFields', true]])]]);
const OMIT_METADATA_STATUS = new Map([['metadata', true], ['status', true]]);

function sameIgnoringRV(a, b)
{
	return sameData(a, b, OMIT_RV);
}

function specChanged(a, b)
{
	return !sameData(a, b, OMIT_METADATA_STATUS);
}

export class KubernetesApi
{
	constructor(sim)
	{
		this.sim = sim;
		this.name = 'kubernetes';
		this.store = new Store();
		this.tokens = new Map();		/* token -> {user, rules|null} */
		this.hooks = [];				/* controllers: fn(event) */
	}

	// ------------------------------------------------------------ classify

	classify(ctx)
	{
		const r = parseK8sPath(ctx.path);
		ctx.route = r;
		const fields = {};
		if (r && r.res)
		{
			fields.verb = verbFor(ctx.method, r, ctx.query);
			fields.apiGroup = r.group;
			fields.resource = r.subresource ? `${r.res.plural}/${r.subresource}` : r.res.plural;
			fields.namespace = r.namespace ?? null;
			fields.name = r.name ?? null;
			if (r.res.plural === 'namespaces' && r.name)
				fields.namespace = null;
		}
		else
		{
			fields.verb = ctx.method.toLowerCase();
			fields.resource = null;
			fields.nonResourceURL = ctx.path;
		}
		ctx.info.fields = fields;
		let body;
		try
		{
			body = parseBody(ctx);
		}
		catch (e)
		{
			body = ctx.body.length ? '<unparseable>' : undefined;
			ctx.bodyError = e;
		}
		ctx.parsedBody = body;
		ctx.info.body = r?.res?.plural === 'secrets' ? maskSecretBody(body) : body;
	}

	faultResult(rule)
	{
		const reasons = { 429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout', 502: 'InternalError', 409: 'Conflict', 403: 'Forbidden', 401: 'Unauthorized', 404: 'NotFound' };
		const status = {
			kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
			message: rule.message || (rule.status === 429 ? 'Too many requests, please try again later.' : `injected fault (${rule.status})`),
			reason: reasons[rule.status] || 'InternalError',
			code: rule.status,
		};
		if (rule.kind === 'retry-after')
			status.details = { retryAfterSeconds: rule.retryAfter };
		return { status: rule.status, body: status };
	}

	// ---------------------------------------------------------- authn/authz

	authenticate(ctx)
	{
		const h = ctx.headers.authorization || '';
		const m = h.match(/^Bearer\s+(\S+)$/i);
		if (!m || !this.tokens.has(m[1]))
			return null;
		return this.tokens.get(m[1]);
	}

	// Who made the request, for the journal: the token's user, or null
	// (no or an unknown token).  Never the token itself.
	principal(ctx)
	{
		return this.authenticate(ctx)?.user ?? null;
	}

	allowed(identity, verb, r)
	{
		if (!identity.rules)
			return true;
		const resource = r.subresource ? `${r.res.plural}/${r.subresource}` : r.res.plural;
		const ns = r.res.plural === 'namespaces' ? r.name : r.namespace;
		return identity.rules.some((rule) =>
			(rule.verbs || []).some((v) => v === '*' || v === verb) &&
			(rule.resources || []).some((x) => x === '*' || x === resource || (x === `${r.res.plural}/*` && r.subresource)) &&
			(rule.apiGroups === undefined || rule.apiGroups.some((g) => g === '*' || g === r.group)) &&
			(rule.resourceNames === undefined || rule.resourceNames.length === 0 || (r.name !== undefined && rule.resourceNames.includes(r.name))) &&
			(rule.namespaces === undefined || rule.namespaces.length === 0 || (r.res.namespaced && ns !== undefined && rule.namespaces.includes(ns)) || (r.res.plural === 'namespaces' && ns !== undefined && rule.namespaces.includes(ns))));
	}

	authorize(identity, verb, r)
	{
		if (!this.allowed(identity, verb, r))
			throw S.forbidden(identity.user, verb, r.res, r.name, r.res.plural === 'namespaces' ? undefined : r.namespace, r.subresource);
	}

	// -------------------------------------------------------------- handle

	async handle(ctx)
	{
		try
		{
			return await this.dispatch(ctx);
		}
		catch (err)
		{
			if (err instanceof S.ApiError)
				return { status: err.code, headers: err.headers, body: err.toStatus() };
			if (err instanceof SyntaxError || err.name === 'YAMLParseError')
				return { status: 400, body: S.badRequest(`error decoding request body: ${err.message}`).toStatus() };
			throw err;
		}
	}

	async dispatch(ctx)
	{
		const bodyType = (ctx.headers['content-type'] || '').split(';')[0].trim();
		if (ctx.body.length && ['POST', 'PUT'].includes(ctx.method) && bodyType && !['application/json', 'application/yaml', PROTOBUF, '*/*'].includes(bodyType))
			throw S.unsupportedMediaType(bodyType, ['application/json', 'application/yaml']);
		if (ctx.bodyError instanceof S.ApiError)
			throw ctx.bodyError;
		if (OPEN_PATHS.has(ctx.path))
		{
			if (ctx.path.startsWith('/version'))
				return { status: 200, body: discovery('/version') };
			return { status: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'ok' };
		}
		const identity = this.authenticate(ctx);
		if (!identity)
			throw S.unauthorized();
		const r = ctx.route;
		if (!r || !r.res)
		{
			if (ctx.method === 'GET')
			{
				const d = discovery(ctx.path, ctx.req.headers.host || ctx.headers[':authority'] || '127.0.0.1') || openapi(ctx.path);
				if (d)
					return { status: 200, body: d };
			}
			throw S.pathNotFound();
		}
		const verb = ctx.info.fields.verb;
		this.authorize(identity, verb, r);
		if (r.subresource && !(r.subresource === 'status' && r.res.status))
			throw S.pathNotFound();
		if (r.subresource && !['get', 'update', 'patch'].includes(verb))
			throw S.methodNotAllowed();
		if ((verb === 'update' || verb === 'patch') && r.name === undefined)
			throw S.methodNotAllowed();
		if (r.res.namespaced && r.name !== undefined && r.namespace === undefined)
			throw S.pathNotFound();
		if (!r.res.namespaced && r.namespace !== undefined)
			throw S.pathNotFound();
		switch (verb)
		{
			case 'get': return this.get(ctx, r);
			case 'list': return this.list(ctx, r);
			case 'watch': return this.watch(ctx, r);
			case 'create': return this.create(ctx, r, identity);
			case 'update': return this.update(ctx, r);
			case 'patch': return this.patch(ctx, r, identity);
			case 'delete': return this.delete(ctx, r);
			case 'deletecollection': return this.deleteCollection(ctx, r);
			default: throw S.methodNotAllowed();
		}
	}

	respondObject(ctx, res, obj, status = 200)
	{
		if (wantsTable(ctx.headers.accept))
			return { status, body: toTable(res, [obj], ctx.query.get('includeObject'), obj.metadata.resourceVersion) };
		return { status, body: withType(res, obj) };
	}

	// -------------------------------------------------------------- reads

	get(ctx, r)
	{
		const obj = this.store.peek(r.res, r.namespace, r.name);
		if (!obj)
			throw S.notFound(r.res, r.name);
		return this.respondObject(ctx, r.res, obj);
	}

	selected(ctx, r)
	{
		const labels = parseLabelSelector(ctx.query.get('labelSelector'));
		const fields = parseFieldSelector(r.res, ctx.query.get('fieldSelector'));
		return { labels, fields, match: (o) => matchLabels(labels, o.metadata.labels) && matchFields(fields, o) };
	}

	list(ctx, r)
	{
		const sel = this.selected(ctx, r);
		let items = this.store.list(r.res, r.namespace).filter(sel.match);
		const metadata = { resourceVersion: String(this.store.rv) };
		const limit = Number(ctx.query.get('limit') || 0);
		const cont = ctx.query.get('continue');
		if (cont)
		{
			let after;
			try
			{
				after = JSON.parse(Buffer.from(cont, 'base64').toString()).after;
			}
			catch (e)
			{
				throw S.badRequest('continue key is not valid: illegal base64 data at input byte 0');
			}
			items = items.filter((o) => `${o.metadata.namespace || ''}/${o.metadata.name}` > after);
		}
		if (limit > 0 && items.length > limit)
		{
			items = items.slice(0, limit);
			const last = items[items.length - 1];
			metadata.continue = Buffer.from(JSON.stringify({ after: `${last.metadata.namespace || ''}/${last.metadata.name}` })).toString('base64');
			metadata.remainingItemCount = undefined;
		}
		if (wantsTable(ctx.headers.accept))
		{
			const t = toTable(r.res, items, ctx.query.get('includeObject'), metadata.resourceVersion);
			if (metadata.continue)
				t.metadata.continue = metadata.continue;
			return { status: 200, body: t };
		}
		return {
			status: 200,
			body: {
				kind: `${r.res.kind}List`,
				apiVersion: r.res.apiVersion,
				metadata,
				items: items.map((o) => (r.res.crd ? withType(r.res, o) : o)),
			},
		};
	}

	watch(ctx, r)
	{
		const sel = this.selected(ctx, r);
		const rvParam = ctx.query.get('resourceVersion');
		const timeout = Number(ctx.query.get('timeoutSeconds') || 1800);
		const matches = (ev) =>
			ev.res === r.res &&
			(r.namespace === undefined || ev.object.metadata.namespace === r.namespace) &&
			sel.match(ev.object);
		let initial;
		if (!rvParam || rvParam === '0')
			initial = this.store.list(r.res, r.namespace).filter(sel.match).map((o) => ({ type: 'ADDED', object: o }));
		else
		{
			const hist = this.store.since(Number(rvParam));
			if (hist === null)
				throw new S.ApiError(410, 'Expired', `too old resource version: ${rvParam} (${this.store.rv})`);
			initial = hist.filter(matches).map((e) => ({ type: e.type, object: e.object }));
		}
		return {
			status: 200,
			stream: (res) =>
			{
				res.writeHead(200, { 'content-type': 'application/json' });
				res.flushHeaders?.();
				const send = (type, obj) => res.write(JSON.stringify({ type, object: withType(r.res, obj) }) + '\n');
				for (const e of initial)
					send(e.type, e.object);
				const unsubscribe = this.store.subscribe((ev) =>
				{
					if (matches(ev))
						send(ev.type, ev.object);
				});
				const timer = setTimeout(() => res.end(), timeout * 1000);
				const stop = () =>
				{
					unsubscribe();
					clearTimeout(timer);
				};
				res.on('close', stop);
				res.on('finish', stop);
				this.sim.onClose(() => res.destroy());
			},
		};
	}

	// ------------------------------------------------------------- writes

	body(ctx)
	{
		const b = ctx.parsedBody;
		if (b === '<unparseable>' || b === undefined)
		{
			// Re-parse to surface the decoder's message.
			parseBody(ctx);
			throw S.badRequest('the body of the request was empty');
		}
		if (b === null || typeof b !== 'object' || Array.isArray(b))
			throw S.badRequest(`Object 'Kind' is missing in '${JSON.stringify(b)}'`);
		return clone(b);
	}

	checkTypeMeta(res, obj)
	{
		if (obj.kind !== undefined && obj.kind !== res.kind)
			throw S.badRequest(`the server could not find the requested resource: kind ${obj.kind} does not match ${res.kind}`);
		if (obj.apiVersion !== undefined && obj.apiVersion !== res.apiVersion)
			throw S.badRequest(`the API version in the data (${obj.apiVersion}) does not match the expected API version (${res.apiVersion})`);
	}

	// Namespace lifecycle admission: the namespace must exist and be active.
	admitNamespace(res, name, namespace)
	{
		if (!res.namespaced)
			return;
		const ns = this.store.peek(RESOURCES[0], undefined, namespace);
		if (!ns)
			throw S.namespaceNotFound(namespace);
		if (ns.status?.phase === 'Terminating')
			throw S.namespaceTerminating(res, name, namespace);
	}

	validate(res, obj, old)
	{
		const causes = validateObject(res, obj, old).concat(typeChecks(res, obj, old));
		if (causes.length)
			throw S.invalid(res, obj.metadata?.name, causes);
	}

	dryRun(ctx)
	{
		const d = ctx.query.getAll('dryRun');
		if (d.some((x) => x !== 'All'))
			throw S.invalid({ kind: 'CreateOptions', group: 'meta.k8s.io' }, '', [{ reason: 'FieldValueNotSupported', message: 'Unsupported value: ' + JSON.stringify(d[0]) + ': supported values: "All"', field: 'dryRun' }]);
		return d.includes('All');
	}

	create(ctx, r, identity)
	{
		if (r.name !== undefined)
			throw S.methodNotAllowed();
		const obj = this.body(ctx);
		this.checkTypeMeta(r.res, obj);
		obj.apiVersion = r.res.apiVersion;
		obj.kind = r.res.kind;
		obj.metadata = obj.metadata && typeof obj.metadata === 'object' ? obj.metadata : {};
		if (r.res.namespaced)
		{
			if (obj.metadata.namespace !== undefined && obj.metadata.namespace !== '' && obj.metadata.namespace !== r.namespace)
				throw S.badRequest('the namespace of the provided object does not match the namespace sent on the request');
			if (r.namespace === undefined)
				throw S.methodNotAllowed();
			obj.metadata.namespace = r.namespace;
		}
		else
			delete obj.metadata.namespace;
		if (!obj.metadata.name && obj.metadata.generateName)
			obj.metadata.name = obj.metadata.generateName + randomSuffix();
		// As etcd3's store says it (a 500, not a 400).
		if (obj.metadata.resourceVersion)
			throw S.internalError('resourceVersion should not be set on objects to be created');
		return this.createObject(ctx, r.res, obj, ctx.query.get('fieldManager') || defaultManager(ctx.headers['user-agent']), this.dryRun(ctx));
	}

	createObject(ctx, res, obj, manager, dryRun, applied)
	{
		this.admitNamespace(res, obj.metadata.name, obj.metadata.namespace);
		for (const f of ['uid', 'resourceVersion', 'creationTimestamp', 'deletionTimestamp', 'generation', 'selfLink'])
			delete obj.metadata[f];
		if (res.status && res.kind !== 'Namespace' && !applied)
			delete obj.status;
		applyDefaults(res, obj, undefined);
		this.validate(res, obj);
		if (this.store.has(res, obj.metadata.namespace, obj.metadata.name))
			throw S.alreadyExists(res, obj.metadata.name);
		if (!applied)
			trackUpdate(res, undefined, obj, manager);
		if (dryRun)
		{
			obj.metadata.uid = obj.metadata.uid || '00000000-0000-0000-0000-000000000000';
			obj.metadata.creationTimestamp = timestamp();
			return this.respondObject(ctx, res, obj, 201);
		}
		const stored = this.store.create(res, obj);
		return this.respondObject(ctx, res, stored, 201);
	}

	// Shared by PUT and PATCH: validate and store `obj` replacing `old`.
	replace(ctx, res, old, obj, subresource, manager, dryRun, managedAlready)
	{
		obj.apiVersion = res.apiVersion;
		obj.kind = res.kind;
		obj.metadata = obj.metadata || {};
		// Server-owned metadata cannot be changed by clients.
		for (const f of ['uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation'])
		{
			if (old.metadata[f] === undefined)
				delete obj.metadata[f];
			else
				obj.metadata[f] = old.metadata[f];
		}
		obj.metadata.name = old.metadata.name;
		if (old.metadata.namespace)
			obj.metadata.namespace = old.metadata.namespace;
		if (subresource === 'status')
		{
			const status = obj.status;
			obj = { ...clone(old), status };
			if (managedAlready)
				obj.metadata.managedFields = managedAlready;
		}
		else if (res.status)
			obj.status = clone(old.status);
		applyDefaults(res, obj, old);
		this.validate(res, obj, old);
		if (res.generation && specChanged(old, obj))
			obj.metadata.generation = (old.metadata.generation || 1) + 1;
		if (!managedAlready)
			trackUpdate(res, old, obj, manager, subresource);
		obj.metadata.resourceVersion = old.metadata.resourceVersion;
		if (sameIgnoringRV(old, obj) && sameData(old.metadata.managedFields, obj.metadata.managedFields))
			return this.respondObject(ctx, res, old);
		if (dryRun)
			return this.respondObject(ctx, res, obj);
		// Finalizers cleared on an object being deleted: it goes away now.
		if (obj.metadata.deletionTimestamp && !(obj.metadata.finalizers || []).length && res.kind !== 'Namespace')
		{
			const gone = this.store.remove(res, obj.metadata.namespace, obj.metadata.name);
			return this.respondObject(ctx, res, gone);
		}
		const stored = this.store.update(res, obj);
		return this.respondObject(ctx, res, stored);
	}

	update(ctx, r)
	{
		const obj = this.body(ctx);
		this.checkTypeMeta(r.res, obj);
		if (obj.metadata?.name !== undefined && obj.metadata.name !== r.name)
			throw S.badRequest(`the name of the object (${obj.metadata.name}) does not match the name on the URL (${r.name})`);
		if (r.res.namespaced && obj.metadata?.namespace && obj.metadata.namespace !== r.namespace)
			throw S.badRequest('the namespace of the provided object does not match the namespace sent on the request');
		const old = this.store.peek(r.res, r.namespace, r.name);
		if (!old)
			throw S.notFound(r.res, r.name);
		const rv = obj.metadata?.resourceVersion;
		if (rv !== undefined && rv !== '' && rv !== old.metadata.resourceVersion)
			throw S.conflict(r.res, r.name);
		return this.replace(ctx, r.res, old, obj, r.subresource, ctx.query.get('fieldManager') || defaultManager(ctx.headers['user-agent']), this.dryRun(ctx));
	}

	patch(ctx, r, identity)
	{
		const ct = (ctx.headers['content-type'] || '').split(';')[0].trim();
		const type = PATCH_TYPES[ct];
		const accepted = r.res.crd
			? ['application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml']
			: Object.keys(PATCH_TYPES);
		if (!type || (type === 'strategic' && r.res.crd))
			throw S.unsupportedMediaType(ct, accepted);
		const manager = ctx.query.get('fieldManager');
		const force = ctx.query.get('force');
		if (type === 'apply' && !manager)
			throw S.invalid({ kind: 'PatchOptions', group: 'meta.k8s.io' }, '', [{ reason: 'FieldValueRequired', message: 'Required value: is required for apply patch', field: 'fieldManager' }]);
		if (type !== 'apply' && force !== null)
			throw S.invalid({ kind: 'PatchOptions', group: 'meta.k8s.io' }, '', [{ reason: 'FieldValueForbidden', message: 'Forbidden: may not be specified for non-apply patch', field: 'force' }]);
		const dryRun = this.dryRun(ctx);
		const patch = ctx.parsedBody;
		if (patch === undefined || patch === '<unparseable>')
		{
			parseBody(ctx);
			throw S.badRequest('the body of the request was empty');
		}
		const old = this.store.peek(r.res, r.namespace, r.name);
		if (type === 'apply')
			return this.apply(ctx, r, identity, old, patch, manager, force === 'true', dryRun);
		if (!old)
			throw S.notFound(r.res, r.name);
		let obj;
		if (type === 'json')
			obj = jsonPatch(withType(r.res, old), patch);
		else if (type === 'merge')
			obj = mergePatch(withType(r.res, old), patch);
		else
			obj = strategicMergePatch(withType(r.res, old), patch);
		if (obj === null || typeof obj !== 'object' || Array.isArray(obj))
			throw S.badRequest('the patch produced an object that is not a JSON object');
		const rv = obj.metadata?.resourceVersion;
		if (rv !== undefined && rv !== old.metadata.resourceVersion)
			throw S.conflict(r.res, r.name);
		return this.replace(ctx, r.res, old, obj, r.subresource, manager || defaultManager(ctx.headers['user-agent']), dryRun);
	}

	apply(ctx, r, identity, old, applied, manager, force, dryRun)
	{
		if (applied === null || typeof applied !== 'object' || Array.isArray(applied))
			throw S.badRequest('error decoding YAML: the applied configuration must be an object');
		if (applied.apiVersion !== r.res.apiVersion)
			throw S.badRequest(applied.apiVersion === undefined
				? `error decoding YAML: Object 'apiVersion' is missing`
				: `the API version in the data (${applied.apiVersion}) does not match the expected API version (${r.res.apiVersion})`);
		if (applied.kind !== r.res.kind)
			throw S.badRequest(applied.kind === undefined
				? `error decoding YAML: Object 'Kind' is missing`
				: `the kind in the data (${applied.kind}) does not match the expected kind (${r.res.kind})`);
		const md = applied.metadata || {};
		if (md.name !== r.name)
			throw S.badRequest(`the name of the object (${md.name ?? ''}) does not match the name on the URL (${r.name})`);
		if (r.res.namespaced && md.namespace !== undefined && md.namespace !== r.namespace)
			throw S.badRequest('the namespace of the provided object does not match the namespace sent on the request');
		if (md.managedFields !== undefined)
			throw S.badRequest('metadata.managedFields must be nil');
		const conflictError = (conflicts) => S.applyConflict(r.res, r.name, conflicts);
		// A uid in the applied configuration names the object to update:
		// none of that name answers 409, another one 422 (metadata.uid is
		// immutable), as the API server's patch handler and update
		// validation answer.
		if (md.uid !== undefined && md.uid !== '')
		{
			if (!old)
				throw new S.ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${r.res.plural} "${r.name}": uid mismatch: the provided object specified uid ${md.uid}, and no existing object was found`, { name: r.name, kind: r.res.plural });
			if (md.uid !== old.metadata.uid)
				throw S.invalid(r.res, r.name, [{ reason: 'FieldValueInvalid', message: `Invalid value: "${md.uid}": field is immutable`, field: 'metadata.uid' }]);
		}
		if (!old)
		{
			if (r.subresource)
				throw S.notFound(r.res, r.name);
			// Creating through apply needs "create" as well as "patch".
			this.authorize(identity, 'create', r);
			ctx.info.fields.impliedVerbs = ['create'];
			const obj = serverSideApply(r.res, undefined, applied, manager, force, conflictError);
			obj.apiVersion = r.res.apiVersion;
			obj.kind = r.res.kind;
			obj.metadata.name = r.name;
			if (r.res.namespaced)
				obj.metadata.namespace = r.namespace;
			return this.createObject(ctx, r.res, obj, manager, dryRun, true);
		}
		if (md.resourceVersion !== undefined && md.resourceVersion !== old.metadata.resourceVersion)
			throw S.conflict(r.res, r.name);
		const obj = serverSideApply(r.res, withType(r.res, old), applied, manager, force, conflictError, r.subresource);
		const res = this.replace(ctx, r.res, old, obj, r.subresource, manager, dryRun, obj.metadata.managedFields);
		return res;
	}

	// ------------------------------------------------------------ deletes

	deleteOptions(ctx)
	{
		const b = ctx.parsedBody;
		return b && typeof b === 'object' && !Array.isArray(b) ? b : {};
	}

	delete(ctx, r)
	{
		const old = this.store.get(r.res, r.namespace, r.name);
		if (!old)
			throw S.notFound(r.res, r.name);
		const opts = this.deleteOptions(ctx);
		const pre = opts.preconditions || {};
		if (pre.uid && pre.uid !== old.metadata.uid)
			throw new S.ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${r.res.plural} "${r.name}": Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`, { name: r.name, kind: r.res.plural });
		if (pre.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion)
			throw new S.ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${r.res.plural} "${r.name}": Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion}`, { name: r.name, kind: r.res.plural });
		const dryRun = this.dryRun(ctx);
		const out = this.deleteObject(r.res, old, dryRun);
		if (out.status)
			return { status: 200, body: out.status };
		return this.respondObject(ctx, r.res, out.object);
	}

	// Returns {object} (still there or returned by the type) or {status}.
	deleteObject(res, old, dryRun)
	{
		const md = old.metadata;
		if (res.kind === 'Namespace' || (md.finalizers && md.finalizers.length))
		{
			if (dryRun || md.deletionTimestamp)
				return { object: old };
			md.deletionTimestamp = timestamp();
			md.deletionGracePeriodSeconds = 0;
			if (res.kind === 'Namespace')
				old.status = { ...(old.status || {}), phase: 'Terminating' };
			return { object: this.store.update(res, old) };
		}
		const gone = dryRun ? old : this.store.remove(res, md.namespace, md.name);
		if (res.crd)
			return { object: gone };
		const details = { name: md.name, kind: res.plural, uid: md.uid };
		if (res.group)
			details.group = res.group;
		return { status: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details } };
	}

	deleteCollection(ctx, r)
	{
		const sel = this.selected(ctx, r);
		const dryRun = this.dryRun(ctx);
		const items = [];
		for (const o of this.store.list(r.res, r.namespace).filter(sel.match))
		{
			const out = this.deleteObject(r.res, o, dryRun);
			items.push(out.object || o);
		}
		return {
			status: 200,
			body: { kind: `${r.res.kind}List`, apiVersion: r.res.apiVersion, metadata: { resourceVersion: String(this.store.rv) }, items },
		};
	}
}
