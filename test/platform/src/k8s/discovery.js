// discovery.js — /version, /api, /apis and the group/version resource
// lists (legacy discovery; clients asking for aggregated discovery get
// application/json and fall back to it, as against an older server), and
// server-side Table output for kubectl get.

import { RESOURCES, groupVersions } from './resources.js';

export const VERSION = {
	major: '1',
	minor: '32',
	gitVersion: 'v1.32.0-tenancy-sim',
	gitCommit: '0000000000000000000000000000000000000000',
	gitTreeState: 'clean',
	buildDate: '2024-12-11T00:00:00Z',
	goVersion: 'go1.23.4',
	compiler: 'gc',
	platform: 'linux/amd64',
};

function resourceList(group, version)
{
	const resources = [];
	for (const r of RESOURCES.filter((x) => x.group === group && x.version === version))
	{
		const entry = { name: r.plural, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: r.verbs };
		if (r.shortNames)
			entry.shortNames = r.shortNames;
		if (r.plural === 'pods' || r.plural === 'services' || r.plural === 'deployments' || r.plural === 'cronjobs')
			entry.categories = ['all'];
		resources.push(entry);
		if (r.status)
			resources.push({ name: `${r.plural}/status`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: ['get', 'patch', 'update'] });
	}
	return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources };
}

function apiGroup(name, versions)
{
	const vs = [...versions].map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
	return { name, versions: vs, preferredVersion: vs[0] };
}

// Returns a result for discovery paths, or null.
export function discovery(path, serverAddress)
{
	if (path === '/version' || path === '/version/')
		return VERSION;
	if (path === '/api' || path === '/api/')
		return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
	if (path === '/api/v1' || path === '/api/v1/')
		return resourceList('', 'v1');
	const groups = groupVersions();
	if (path === '/apis' || path === '/apis/')
		return { kind: 'APIGroupList', apiVersion: 'v1', groups: [...groups].map(([n, v]) => apiGroup(n, v)) };
	const m = path.match(/^\/apis\/([^/]+)(?:\/([^/]+))?\/?$/);
	if (m && groups.has(m[1]))
	{
		if (!m[2])
			return { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(m[1], groups.get(m[1])) };
		if (groups.get(m[1]).has(m[2]))
			return resourceList(m[1], m[2]);
	}
	return null;
}

// ------------------------------------------------------------------ tables

export function wantsTable(accept)
{
	return typeof accept === 'string' && /as=Table/.test(accept);
}

function age(ts)
{
	if (!ts)
		return '<unknown>';
	let s = Math.max(0, Math.floor((Date.now() - Date.parse(ts)) / 1000));
	if (s < 120)
		return `${s}s`;
	const m = Math.floor(s / 60);
	if (m < 10)
		return `${m}m${s % 60 ? (s % 60) + 's' : ''}`;
	if (m < 180)
		return `${m}m`;
	const h = Math.floor(m / 60);
	if (h < 48)
		return `${h}h`;
	return `${Math.floor(h / 24)}d`;
}

const COL = (name, type = 'string', format = '') => ({ name, type, format, description: '', priority: 0 });

const TABLES = {
	namespaces: [[COL('Name', 'string', 'name'), COL('Status'), COL('Age')], (o) => [o.metadata.name, o.status?.phase ?? '', age(o.metadata.creationTimestamp)]],
	configmaps: [[COL('Name', 'string', 'name'), COL('Data', 'integer'), COL('Age')], (o) => [o.metadata.name, Object.keys(o.data || {}).length + Object.keys(o.binaryData || {}).length, age(o.metadata.creationTimestamp)]],
	secrets: [[COL('Name', 'string', 'name'), COL('Type'), COL('Data', 'integer'), COL('Age')], (o) => [o.metadata.name, o.type, Object.keys(o.data || {}).length, age(o.metadata.creationTimestamp)]],
	pods: [[COL('Name', 'string', 'name'), COL('Ready'), COL('Status'), COL('Restarts', 'string'), COL('Age')], (o) =>
	{
		const cs = o.status?.containerStatuses || [];
		return [o.metadata.name, `${cs.filter((c) => c.ready).length}/${(o.spec?.containers || []).length}`, o.metadata.deletionTimestamp ? 'Terminating' : (o.status?.phase ?? ''), String(cs.reduce((a, c) => a + (c.restartCount || 0), 0)), age(o.metadata.creationTimestamp)];
	}],
	helmreleases: [[COL('Name', 'string', 'name'), COL('Age', 'date'), COL('Ready'), COL('Status')], (o) =>
	{
		const c = (o.status?.conditions || []).find((x) => x.type === 'Ready');
		return [o.metadata.name, age(o.metadata.creationTimestamp), c?.status ?? 'Unknown', c?.message ?? ''];
	}],
};

export function toTable(res, objects, includeObject, resourceVersion)
{
	const [columns, row] = TABLES[res.plural] || [[COL('Name', 'string', 'name'), COL('Age')], (o) => [o.metadata.name, age(o.metadata.creationTimestamp)]];
	return {
		kind: 'Table',
		apiVersion: 'meta.k8s.io/v1',
		metadata: { resourceVersion },
		columnDefinitions: columns,
		rows: objects.map((o) => ({
			cells: row(o),
			object: includeObject === 'None' ? undefined
				: includeObject === 'Object' ? { ...o, kind: res.kind, apiVersion: res.apiVersion }
					: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
		})),
	};
}

// ----------------------------------------------------------------- openapi

// Enough of /openapi/v3 for kubectl to see that the server validates fields
// itself (a PATCH operation per kind declaring the fieldValidation query
// parameter); no schemas are published.
export function openapi(path)
{
	const groupVersions = [];
	for (const r of RESOURCES)
	{
		const gv = r.group ? `apis/${r.group}/${r.version}` : 'api/v1';
		if (!groupVersions.includes(gv))
			groupVersions.push(gv);
	}
	if (path === '/openapi/v3' || path === '/openapi/v3/')
	{
		const paths = {};
		for (const gv of groupVersions)
			paths[gv] = { serverRelativeURL: `/openapi/v3/${gv}?hash=${VERSION.gitVersion}` };
		return { paths };
	}
	const m = path.match(/^\/openapi\/v3\/(.+?)\/?$/);
	if (!m || !groupVersions.includes(m[1]))
		return null;
	const paths = {};
	const param = (name) => ({ name, in: 'query', schema: { type: 'string', uniqueItems: true } });
	for (const r of RESOURCES)
	{
		const gv = r.group ? `apis/${r.group}/${r.version}` : 'api/v1';
		if (gv !== m[1])
			continue;
		const gvk = { 'x-kubernetes-group-version-kind': { group: r.group, version: r.version, kind: r.kind } };
		const p = r.namespaced ? `/${gv}/namespaces/{namespace}/${r.plural}/{name}` : `/${gv}/${r.plural}/{name}`;
		paths[p] = {
			get: { operationId: `read${r.kind}`, 'x-kubernetes-action': 'get', ...gvk, responses: {} },
			put: { operationId: `replace${r.kind}`, 'x-kubernetes-action': 'put', ...gvk, parameters: [param('dryRun'), param('fieldManager'), param('fieldValidation')], responses: {} },
			patch: { operationId: `patch${r.kind}`, 'x-kubernetes-action': 'patch', ...gvk, parameters: [param('dryRun'), param('fieldManager'), param('fieldValidation'), param('force')], responses: {} },
			delete: { operationId: `delete${r.kind}`, 'x-kubernetes-action': 'delete', ...gvk, responses: {} },
		};
	}
	return { openapi: '3.0.0', info: { title: 'Kubernetes', version: VERSION.gitVersion }, paths, components: { schemas: {} } };
}
