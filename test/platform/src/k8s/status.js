// status.js — metav1.Status error bodies, worded as the real API server does.

export class ApiError extends Error
{
	constructor(code, reason, message, details, headers)
	{
		super(message);
		this.code = code;
		this.reason = reason;
		this.details = details;
		this.headers = headers || {};
	}

	toStatus()
	{
		const s = {
			kind: 'Status',
			apiVersion: 'v1',
			metadata: {},
			status: 'Failure',
			message: this.message,
			reason: this.reason,
			code: this.code,
		};
		if (this.details)
			s.details = this.details;
		return s;
	}
}

function qualified(res)
{
	return res.group ? `${res.plural}.${res.group}` : res.plural;
}

function details(res, name, extra)
{
	const d = {};
	if (name !== undefined)
		d.name = name;
	if (res.group)
		d.group = res.group;
	d.kind = res.plural;
	return Object.assign(d, extra);
}

export function notFound(res, name)
{
	return new ApiError(404, 'NotFound', `${qualified(res)} "${name}" not found`, details(res, name));
}

export function alreadyExists(res, name)
{
	return new ApiError(409, 'AlreadyExists', `${qualified(res)} "${name}" already exists`, details(res, name));
}

export function conflict(res, name)
{
	return new ApiError(409, 'Conflict',
		`Operation cannot be fulfilled on ${qualified(res)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
		details(res, name));
}

export function applyConflict(res, name, conflicts)
{
	// conflicts: [{manager, field}]
	const lines = conflicts.map((c) => `- ${c.manager}: ${c.field}`);
	const msg = conflicts.length === 1
		? `Apply failed with 1 conflict: conflict with "${conflicts[0].manager}": ${conflicts[0].field}`
		: `Apply failed with ${conflicts.length} conflicts: conflicts with ${conflicts.map((c) => `"${c.manager}"`).filter((v, i, a) => a.indexOf(v) === i).join(', ')}:\n${lines.join('\n')}`;
	return new ApiError(409, 'Conflict', msg, details(res, name, {
		causes: conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with "${c.manager}"`, field: c.field })),
	}));
}

export function invalid(res, name, causes)
{
	const parts = causes.map((c) => `${c.field}: ${c.message}`);
	const what = parts.length === 1 ? parts[0] : `[${parts.join(', ')}]`;
	const kind = res.kind;
	const d = { name, kind, causes };
	if (res.group)
		d.group = res.group;
	return new ApiError(422, 'Invalid', `${kind}${res.group ? '.' + res.group : ''} "${name ?? ''}" is invalid: ${what}`, d);
}

export function badRequest(message)
{
	return new ApiError(400, 'BadRequest', message);
}

export function methodNotAllowed()
{
	return new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
}

export function unsupportedMediaType(contentType, accepted)
{
	return new ApiError(415, 'UnsupportedMediaType',
		`the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`);
}

export function pathNotFound()
{
	return new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
}

export function unauthorized()
{
	return new ApiError(401, 'Unauthorized', 'Unauthorized');
}

export function forbidden(user, verb, res, name, namespace, subresource)
{
	const resource = subresource ? `${res.plural}/${subresource}` : res.plural;
	const subject = name !== undefined ? `${qualified(res)} "${name}"` : qualified(res);
	const scope = namespace ? `in the namespace "${namespace}"` : 'at the cluster scope';
	return new ApiError(403, 'Forbidden',
		`${subject} is forbidden: User "${user}" cannot ${verb} resource "${resource}" in API group "${res.group}" ${scope}`,
		details(res, name));
}

export function namespaceTerminating(res, name, namespace)
{
	return new ApiError(403, 'Forbidden',
		`${qualified(res)} "${name}" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`,
		{
			name, group: res.group || undefined, kind: res.plural,
			causes: [{ reason: 'NamespaceTerminating', message: `namespace ${namespace} is being terminated`, field: 'metadata.namespace' }],
		});
}

export function namespaceNotFound(namespace)
{
	return new ApiError(404, 'NotFound', `namespaces "${namespace}" not found`, { name: namespace, kind: 'namespaces' });
}

export function internalError(message)
{
	return new ApiError(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ message }] });
}
