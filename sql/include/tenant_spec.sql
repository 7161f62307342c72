--
-- tenant_spec.sql: helpers the tenant_* regression tests include.
--
-- spec(name, patch): the smallest valid spec of a tenant, with patch merged in
CREATE FUNCTION pg_temp.merge(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT coalesce(jsonb_object_agg(k, CASE
			WHEN jsonb_typeof(a -> k) = 'object' AND jsonb_typeof(b -> k) = 'object'
			THEN pg_temp.merge(a -> k, b -> k)
			ELSE coalesce(b -> k, a -> k) END), '{}')
	  FROM (SELECT jsonb_object_keys(a) UNION SELECT jsonb_object_keys(b)) AS keys(k)
$$;
CREATE FUNCTION pg_temp.spec(name text, patch jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
	SELECT pg_temp.merge(jsonb_build_object('tenant', jsonb_build_object('name', name, 'tier', 'standard'),
	                                        'warehouse', '{}'::jsonb, 'resources', '{}'::jsonb), patch)
$$;
