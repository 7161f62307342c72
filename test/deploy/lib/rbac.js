// rbac.js — the worker's Kubernetes permissions against what it used.
//
// "Used" is read from the platform simulator's journal: each Kubernetes
// entry carries the request's RBAC attributes as the API server computes
// them (verb, apiGroup, resource with subresource, name; impliedVerbs when
// a server-side apply created the object and so needed "create" too).
// Two more needs do not show as requests, and are derived from bodies, the
// way the API server's escalation checks see them:
//   - writing a Role needs every permission the Role grants;
//   - writing a RoleBinding to a ClusterRole needs "bind" on that
//     ClusterRole (or every permission in it).
// A permission is the tuple (verb, apiGroup, resource, name), name null
// when the rule has no resourceNames.

import { parse as parseYaml } from 'yaml';

// Requests any authenticated user may make (system:discovery,
// system:basic-user, system:public-info-viewer): not the worker's role's job.
const DEFAULT_ALLOWED = new Set([
	'create selfsubjectaccessreviews.authorization.k8s.io',
	'create selfsubjectrulesreviews.authorization.k8s.io',
	'create selfsubjectreviews.authentication.k8s.io',
]);

export function permissionKey(p)
{
	const res = p.apiGroup ? `${p.resource}.${p.apiGroup}` : p.resource;
	return p.name ? `${p.verb} ${res} (${p.name})` : `${p.verb} ${res}`;
}

function parseBody(body)
{
	if (body === null || body === undefined || typeof body === 'object')
		return body;
	try
	{
		return JSON.parse(body);
	}
	catch
	{
		try
		{
			return parseYaml(body);
		}
		catch
		{
			return undefined;
		}
	}
}

function rulePermissions(rule)
{
	const out = [];
	for (const apiGroup of rule.apiGroups ?? [''])
		for (const resource of rule.resources ?? [])
			for (const verb of rule.verbs ?? [])
			{
				const names = rule.resourceNames?.length ? rule.resourceNames : [null];
				for (const name of names)
					out.push({ verb, apiGroup, resource, name });
			}
	return out;
}

function isWrite(verb)
{
	return verb === 'create' || verb === 'update' || verb === 'patch';
}

// What the worker needed, from journal entries: {needs: Map key -> {perm,
// alternatives}, problems: [string]}.  A need with alternatives (a bind)
// is also met by holding all of the alternatives.
export function requiredPermissions(entries, clusterRoles)
{
	const needs = new Map();
	const problems = [];
	const add = (perm, via, alternatives) =>
	{
		const key = permissionKey(perm);
		if (DEFAULT_ALLOWED.has(key))
			return;
		if (!needs.has(key))
			needs.set(key, { perm, via, alternatives });
	};
	for (const e of entries)
	{
		if (e.service !== 'kubernetes')
			continue;
		if (e.nonResourceURL !== undefined || e.resource === null)
			continue;				/* discovery: default roles allow it */
		if (typeof e.verb !== 'string' || typeof e.resource !== 'string')
		{
			problems.push(`journal entry ${e.seq ?? '?'} (${e.method} ${e.path}) has no RBAC attributes (verb, resource)`);
			continue;
		}
		const base = { apiGroup: e.apiGroup ?? '', resource: e.resource };
		const name = e.name ?? null;
		add({ ...base, verb: e.verb, name }, `${e.method} ${e.path}`);
		for (const v of e.impliedVerbs ?? [])
			add({ ...base, verb: v, name: null }, `${e.method} ${e.path} (creates)`);

		if (base.apiGroup !== 'rbac.authorization.k8s.io' || !isWrite(e.verb))
			continue;
		const body = parseBody(e.body);
		if ((e.resource === 'roles' || e.resource === 'rolebindings') && (body === undefined || body === null || typeof body !== 'object'))
		{
			problems.push(`journal entry ${e.seq ?? '?'} (${e.method} ${e.path}) has no readable body: the permissions it grants cannot be checked`);
			continue;
		}
		if (e.resource === 'roles')
		{
			for (const rule of body.rules ?? [])
				for (const p of rulePermissions(rule))
					add(p, `granted by Role ${e.namespace}/${e.name ?? body.metadata?.name}`);
		}
		else if (e.resource === 'rolebindings' && body.roleRef?.kind === 'ClusterRole')
		{
			const target = body.roleRef.name;
			const role = clusterRoles.find((r) => r.metadata?.name === target);
			const alternatives = role ? (role.rules ?? []).flatMap(rulePermissions) : null;
			add({ verb: 'bind', apiGroup: 'rbac.authorization.k8s.io', resource: 'clusterroles', name: target },
				`RoleBinding ${e.namespace}/${e.name ?? body.metadata?.name} to ClusterRole ${target}`, alternatives);
		}
	}
	return { needs, problems };
}

function covers(granted, need)
{
	return granted.verb === need.verb && granted.apiGroup === need.apiGroup &&
		granted.resource === need.resource &&
		(granted.name === null || granted.name === need.name);
}

// The ClusterRoles bound to a service account by ClusterRoleBindings.
export function boundClusterRoles(objects, namespace, serviceAccount)
{
	const names = new Set();
	for (const b of objects.filter((o) => o.kind === 'ClusterRoleBinding'))
		if ((b.subjects ?? []).some((s) => s.kind === 'ServiceAccount' && s.name === serviceAccount && s.namespace === namespace))
			names.add(b.roleRef?.name);
	return objects.filter((o) => o.kind === 'ClusterRole' && names.has(o.metadata?.name));
}

// Compare granted rules with needs: {missing, unused, wildcards}, each a
// sorted list of strings.
export function compareRbac(rules, needs)
{
	const wildcards = [];
	for (const r of rules)
		for (const f of ['apiGroups', 'resources', 'verbs', 'resourceNames'])
			if ((r[f] ?? []).some((v) => v === '*' || v.includes('*')))
				wildcards.push(`${f}: ${JSON.stringify(r[f])}`);
	const granted = rules.flatMap(rulePermissions);
	const used = new Set();
	const missing = new Map();
	for (const [key, need] of needs)
	{
		let holders = granted.filter((g) => covers(g, need.perm));
		if (holders.length === 0 && need.alternatives)
		{
			const alt = need.alternatives.map((a) => granted.filter((g) => covers(g, a)));
			if (need.alternatives.length > 0 && alt.every((h) => h.length > 0))
				holders = alt.flat();
		}
		if (holders.length === 0)
		{
			// One line per permission, not per object name: names matter
			// only to "bind", whose grant is always by name.
			const shown = need.perm.verb === 'bind' ? key : permissionKey({ ...need.perm, name: null });
			if (!missing.has(shown))
				missing.set(shown, `${shown}  [${need.via}]`);
		}
		for (const h of holders)
			used.add(permissionKey(h));
	}
	const unused = [...new Set(granted.map(permissionKey))].filter((k) => !used.has(k));
	return { missing: [...missing.values()].sort(), unused: unused.sort(), wildcards };
}
