// selectors.js — labelSelector and fieldSelector, with the real grammar:
// "a=b", "a==b", "a!=b", "a in (x,y)", "a notin (x)", "a", "!a", joined by
// commas; field selectors support =, ==, != on the fields each type indexes.

import { badRequest } from './status.js';

function splitTopLevel(s)
{
	const out = [];
	let depth = 0;
	let cur = '';
	for (const ch of s)
	{
		if (ch === '(')
			depth++;
		else if (ch === ')')
			depth--;
		if (ch === ',' && depth === 0)
		{
			out.push(cur);
			cur = '';
		}
		else
			cur += ch;
	}
	if (cur.trim() !== '')
		out.push(cur);
	return out.map((x) => x.trim()).filter((x) => x !== '');
}

export function parseLabelSelector(s)
{
	if (!s)
		return [];
	const reqs = [];
	for (const term of splitTopLevel(s))
	{
		let m;
		if ((m = term.match(/^([^\s!=]+)\s+(in|notin)\s+\((.*)\)$/)))
			reqs.push({ key: m[1], op: m[2], values: m[3].split(',').map((v) => v.trim()).filter((v) => v !== '') });
		else if ((m = term.match(/^([^\s!=]+)\s*(==|=|!=)\s*(\S*)$/)))
			reqs.push({ key: m[1], op: m[2] === '!=' ? '!=' : '=', values: [m[3]] });
		else if ((m = term.match(/^!\s*([^\s!=()]+)$/)))
			reqs.push({ key: m[1], op: '!' });
		else if ((m = term.match(/^([^\s!=()]+)$/)))
			reqs.push({ key: m[1], op: 'exists' });
		else
			throw badRequest(`unable to parse requirement: found '${term}', expected: identifier`);
	}
	return reqs;
}

export function matchLabels(reqs, labels)
{
	labels = labels || {};
	for (const r of reqs)
	{
		const has = Object.prototype.hasOwnProperty.call(labels, r.key);
		const v = labels[r.key];
		switch (r.op)
		{
			case '=': if (!has || v !== r.values[0]) return false; break;
			case '!=': if (has && v === r.values[0]) return false; break;
			case 'in': if (!has || !r.values.includes(v)) return false; break;
			case 'notin': if (has && r.values.includes(v)) return false; break;
			case 'exists': if (!has) return false; break;
			case '!': if (has) return false; break;
		}
	}
	return true;
}

const FIELDS = {
	'*': ['metadata.name', 'metadata.namespace'],
	secrets: ['type'],
	namespaces: ['status.phase'],
	pods: ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'status.phase', 'status.podIP', 'status.nominatedNodeName'],
};

function fieldValue(obj, path)
{
	let v = obj;
	for (const p of path.split('.'))
		v = v == null ? undefined : v[p];
	return v == null ? '' : String(v);
}

export function parseFieldSelector(res, s)
{
	if (!s)
		return [];
	const allowed = FIELDS['*'].concat(FIELDS[res.plural] || []);
	const reqs = [];
	for (const term of splitTopLevel(s))
	{
		const m = term.match(/^([^!=]+?)\s*(==|=|!=)\s*(.*)$/);
		if (!m)
			throw badRequest(`invalid selector: '${s}'; can't understand '${term}'`);
		if (!allowed.includes(m[1]))
			throw badRequest(`field label not supported: ${m[1]}`);
		reqs.push({ field: m[1], op: m[2] === '!=' ? '!=' : '=', value: m[3] });
	}
	return reqs;
}

export function matchFields(reqs, obj)
{
	for (const r of reqs)
	{
		const v = fieldValue(obj, r.field);
		if (r.op === '=' ? v !== r.value : v === r.value)
			return false;
	}
	return true;
}
