// validation.js — what the API server checks before it stores an object.
//
// Two layers, as in the real server: the OpenAPI schema of the type
// (compiled validators shipped by kubernetes-models), and the hand-written
// rules the schema cannot express (object names, label syntax, ConfigMap
// keys, immutable fields). Each problem becomes one Status cause
// {reason, message, field}, in the real server's words.

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;

const MSG_LABEL = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const MSG_SUBDOMAIN = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const MSG_1035 = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const MSG_QNAME = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const MSG_LABEL_VALUE = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const MSG_CONFIG_KEY = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

function quote(v)
{
	return JSON.stringify(v);
}

export function invalidValue(field, value, detail)
{
	return { reason: 'FieldValueInvalid', message: `Invalid value: ${quote(value)}: ${detail}`, field };
}

export function required(field)
{
	return { reason: 'FieldValueRequired', message: 'Required value', field };
}

export function forbidden(field, detail)
{
	return { reason: 'FieldValueForbidden', message: `Forbidden: ${detail}`, field };
}

// "/spec/containers/0/name" -> "spec.containers[0].name"
function fieldPath(instancePath, extra)
{
	const parts = instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
	if (extra !== undefined)
		parts.push(extra);
	let out = '';
	for (const p of parts)
	{
		if (/^\d+$/.test(p))
			out += `[${p}]`;
		else if (/^[A-Za-z0-9_-]+$/.test(p))
			out += (out ? '.' : '') + p;
		else
			out += `[${p}]`;
	}
	return out;
}

function valueAt(obj, instancePath)
{
	let v = obj;
	for (const p of instancePath.split('/').slice(1))
	{
		if (v === null || typeof v !== 'object')
			return undefined;
		v = v[p.replace(/~1/g, '/').replace(/~0/g, '~')];
	}
	return v;
}

function jsonType(v)
{
	if (v === null)
		return 'null';
	if (Array.isArray(v))
		return 'array';
	if (typeof v === 'number')
		return Number.isInteger(v) ? 'integer' : 'number';
	return typeof v;
}

// Map one ajv error of the compiled schema to a Kubernetes cause.
function causeFromSchemaError(err, obj)
{
	const value = valueAt(obj, err.instancePath);
	switch (err.keyword)
	{
		case 'required':
			return required(fieldPath(err.instancePath, err.params.missingProperty));
		case 'type':
			{
				const f = fieldPath(err.instancePath);
				return {
					reason: 'FieldValueTypeInvalid',
					message: `Invalid value: ${quote(jsonType(value))}: ${f} in body must be of type ${err.params.type}: ${quote(jsonType(value))}`,
					field: f,
				};
			}
		case 'enum':
			return {
				reason: 'FieldValueNotSupported',
				message: `Unsupported value: ${quote(value)}: supported values: ${err.params.allowedValues.map(quote).join(', ')}`,
				field: fieldPath(err.instancePath),
			};
		case 'format':
			return invalidValue(fieldPath(err.instancePath), value, `${fieldPath(err.instancePath)} in body must be of type ${err.params.format}: ${quote(value)}`);
		case 'pattern':
			return invalidValue(fieldPath(err.instancePath), value, `${fieldPath(err.instancePath)} in body should match '${err.params.pattern}'`);
		case 'maxLength':
			return { reason: 'FieldValueTooLong', message: `Too long: may not be more than ${err.params.limit} bytes`, field: fieldPath(err.instancePath) };
		case 'minLength':
			return invalidValue(fieldPath(err.instancePath), value, `${fieldPath(err.instancePath)} in body should be at least ${err.params.limit} chars long`);
		case 'maximum':
		case 'minimum':
			return invalidValue(fieldPath(err.instancePath), value, `${fieldPath(err.instancePath)} in body should be ${err.keyword === 'maximum' ? 'less' : 'greater'} than or equal to ${err.params.limit}`);
		case 'maxItems':
			return { reason: 'FieldValueTooMany', message: `Too many: must have at most ${err.params.limit} items`, field: fieldPath(err.instancePath) };
		default:
			return invalidValue(fieldPath(err.instancePath), value, err.message || err.keyword);
	}
}

function validateName(res, name, causes)
{
	if (name === undefined || name === '')
	{
		causes.push(required('metadata.name'));
		return;
	}
	if (typeof name !== 'string')
		return;						/* the schema reports the type */
	const rule = res.nameRule || 'subdomain';
	if (rule === 'path')
	{
		if (name === '.' || name === '..')
			causes.push(invalidValue('metadata.name', name, `may not be '${name}'`));
		for (const ch of ['/', '%'])
			if (name.includes(ch))
				causes.push(invalidValue('metadata.name', name, `may not contain '${ch}'`));
		return;
	}
	const max = rule === 'subdomain' ? 253 : rule === 'cronjob' ? 52 : 63;
	if (name.length > max)
		causes.push(invalidValue('metadata.name', name, `must be no more than ${max} characters`));
	if (rule === 'label' && !DNS1123_LABEL.test(name))
		causes.push(invalidValue('metadata.name', name, MSG_LABEL));
	else if (rule === 'label1035' && !DNS1035_LABEL.test(name))
		causes.push(invalidValue('metadata.name', name, MSG_1035));
	else if ((rule === 'subdomain' || rule === 'cronjob') && !DNS1123_SUBDOMAIN.test(name))
		causes.push(invalidValue('metadata.name', name, MSG_SUBDOMAIN));
}

function validateQualifiedName(field, key, causes)
{
	let name = key;
	const slash = key.indexOf('/');
	if (slash >= 0)
	{
		const prefix = key.slice(0, slash);
		name = key.slice(slash + 1);
		if (prefix.length === 0)
			causes.push(invalidValue(field, key, 'prefix part must be non-empty'));
		else if (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))
			causes.push(invalidValue(field, key, 'prefix part ' + MSG_SUBDOMAIN));
	}
	if (name.length === 0)
		causes.push(invalidValue(field, key, 'name part must be non-empty'));
	else if (name.length > 63)
		causes.push(invalidValue(field, key, 'name part must be no more than 63 characters'));
	else if (!QUALIFIED_NAME.test(name))
		causes.push(invalidValue(field, key, MSG_QNAME));
}

function validateMetadata(res, obj, causes)
{
	const md = obj.metadata || {};
	validateName(res, md.name, causes);
	if (md.labels && typeof md.labels === 'object')
	{
		for (const [k, v] of Object.entries(md.labels))
		{
			validateQualifiedName('metadata.labels', k, causes);
			if (typeof v === 'string')
			{
				if (v.length > 63)
					causes.push(invalidValue('metadata.labels', v, 'must be no more than 63 characters'));
				else if (!LABEL_VALUE.test(v))
					causes.push(invalidValue('metadata.labels', v, MSG_LABEL_VALUE));
			}
		}
	}
	if (md.annotations && typeof md.annotations === 'object')
	{
		let size = 0;
		for (const [k, v] of Object.entries(md.annotations))
		{
			validateQualifiedName('metadata.annotations', k.toLowerCase(), causes);
			size += k.length + String(v).length;
		}
		if (size > 256 * 1024)
			causes.push({ reason: 'FieldValueTooLong', message: `Too long: must have at most ${256 * 1024} bytes`, field: 'metadata.annotations' });
	}
}

function validateConfigData(obj, fields, causes)
{
	let total = 0;
	const seen = new Set();
	for (const f of fields)
	{
		const m = obj[f];
		if (!m || typeof m !== 'object')
			continue;
		for (const [k, v] of Object.entries(m))
		{
			if (k.length > 253 || !CONFIG_KEY.test(k))
				causes.push(invalidValue(`${f}[${k}]`, k, MSG_CONFIG_KEY));
			if (obj.kind === 'ConfigMap' && seen.has(k))
				causes.push(invalidValue(`${f}[${k}]`, k, 'duplicate of key present in data'));
			seen.add(k);
			total += k.length + (typeof v === 'string' ? v.length : 0);
		}
	}
	if (total > 1024 * 1024)
		causes.push({ reason: 'FieldValueTooLong', message: 'Too long: must have at most 1048576 bytes', field: fields[0] });
}

// Validate an object about to be created (old === undefined) or updated.
// Returns a list of causes; empty means valid.
export function validateObject(res, obj, old)
{
	const causes = [];
	if (!res.validate(obj))
	{
		for (const err of res.validate.errors || [])
			causes.push(causeFromSchemaError(err, obj));
	}
	validateMetadata(res, obj, causes);
	if (res.kind === 'ConfigMap')
		validateConfigData(obj, ['data', 'binaryData'], causes);
	if (res.kind === 'Secret')
		validateConfigData(obj, ['data'], causes);
	if (old)
	{
		if ((res.kind === 'Secret' || res.kind === 'ConfigMap') && old.immutable === true)
		{
			for (const f of ['data', 'binaryData', 'stringData'])
				if (JSON.stringify(obj[f] ?? {}) !== JSON.stringify(old[f] ?? {}))
					causes.push(forbidden(f, 'field is immutable when `immutable` is set'));
			if (obj.immutable !== true)
				causes.push(forbidden('immutable', 'field is immutable when `immutable` is set'));
		}
		if (res.kind === 'Secret' && obj.type !== old.type)
			causes.push(invalidValue('type', obj.type, 'field is immutable'));
		if (res.kind === 'Service' && old.spec?.clusterIP && obj.spec?.clusterIP !== old.spec.clusterIP)
			causes.push(invalidValue('spec.clusterIP', obj.spec?.clusterIP ?? '', 'field is immutable'));
	}
	// Deduplicate (the schema and the name rules can say the same thing).
	const seen = new Set();
	return causes.filter((c) =>
	{
		const k = c.field + '\0' + c.message;
		if (seen.has(k))
			return false;
		seen.add(k);
		return true;
	});
}
