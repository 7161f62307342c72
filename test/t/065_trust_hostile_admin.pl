# 065_trust_hostile_admin.pl: issue 17, "Done when".  Every function a
# tenancy_admin may execute (read from pg_proc, not listed by hand) is
# called by a non-superuser tenancy_admin with hostile arguments, one
# argument at a time: injection strings, other tenants' and roles' names,
# system catalogs, a database someone else owns, the platform database,
# extreme numbers and intervals.  The worker then runs whatever operations
# that left.  Afterwards no role that existed before has gained a
# membership, an attribute or a password, no new role is privileged or a
# member of a role tenancy did not create, and the database grants of a
# foreign database are untouched.  Planted beforehand: a step journal with a
# trigger in a database a non-superuser owns (finding 1) and an unrelated
# role named like a deprovisioned tenant's login role (finding 2).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;
use Time::HiRes qw(sleep);

my $node = TenancyTest::new_node('trust_hostile', undef, 'tenancy.max_attempts = 2');
$node->safe_psql('postgres', q{
	CREATE ROLE admin1 LOGIN IN ROLE tenancy_admin;
	CREATE ROLE bystander LOGIN PASSWORD 'bystander-password';
	CREATE ROLE appowner LOGIN;
	CREATE DATABASE appdb OWNER appowner;
	CREATE TABLE public.secrets (tenant text, secret text);
	SELECT tenancy.provision('victim', '{"tenant": {"name": "victim", "tier": "standard"}, "warehouse": {}, "resources": {}}'::jsonb);
	CREATE TABLE victim_bronze.t (tenant text);
	ALTER TABLE victim_bronze.t OWNER TO tenant_victim_owner;
});
# appowner plants a step journal whose trigger would make it superuser
$node->safe_psql('appdb', q{
	SET ROLE appowner;
	CREATE SCHEMA tenancy_remote;
	CREATE TABLE tenancy_remote.applied_steps (step_key text PRIMARY KEY, applied_at timestamptz DEFAULT now());
	CREATE FUNCTION tenancy_remote.escalate() RETURNS trigger LANGUAGE plpgsql AS $f$
	BEGIN
		BEGIN EXECUTE 'ALTER ROLE appowner SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
		RETURN NEW;
	END $f$;
	CREATE TRIGGER escalate BEFORE INSERT ON tenancy_remote.applied_steps
		FOR EACH ROW EXECUTE FUNCTION tenancy_remote.escalate();
});
# tenant evil2 was deprovisioned; a DBA then created an unrelated role under
# the name of its login role
$node->safe_psql('postgres', q{
	SELECT tenancy.provision('evil2', '{"tenant": {"name": "evil2", "tier": "standard"}, "warehouse": {}, "resources": {}}'::jsonb);
	SELECT tenancy.deprovision('evil2');
	CREATE ROLE etl_evil2 LOGIN IN ROLE pg_execute_server_program;
});

my $roles_sql = q{SELECT string_agg(format('%s:%s%s%s%s%s%s:%s:%s', a.rolname, a.rolsuper, a.rolcreaterole,
	a.rolcreatedb, a.rolreplication, a.rolbypassrls, a.rolcanlogin, coalesce(md5(a.rolpassword), '-'),
	(SELECT string_agg(m.roleid::regrole::text || CASE WHEN m.admin_option THEN '*' ELSE '' END, ',' ORDER BY 1)
	   FROM pg_auth_members m WHERE m.member = a.oid)),
	E'\n' ORDER BY a.rolname) FROM pg_authid a WHERE a.oid < 16384 OR a.rolname = ANY (NAMES)};
my @before_names = split /\n/, $node->safe_psql('postgres', q{SELECT rolname FROM pg_authid ORDER BY 1});
my $names = 'ARRAY[' . join(',', map { "'$_'" } @before_names) . ']';
my $before = $node->safe_psql('postgres', ($roles_sql =~ s/NAMES/$names/r));
my $appdb_acl = $node->safe_psql('postgres', q{SELECT coalesce(datacl::text, 'default') FROM pg_database WHERE datname = 'appdb'});

# the hostile values, by argument type
my $inject = q{x''; ALTER ROLE admin1 SUPERUSER; --};
my @spec_variants = (
	'{"tenant": {"name": "evil", "tier": "standard"}, "warehouse": {}, "resources": {}}',
	'{"tenant": {"name": "evil", "tier": "standard"}, "warehouse": {"database": {"name": "appdb"}}, "resources": {}}',
	'{"tenant": {"name": "evil", "tier": "standard"}, "warehouse": {"database": {"name": "postgres"}}, "resources": {}}',
	'{"tenant": {"name": "evil", "tier": "standard"}, "warehouse": {"database": {"name": "template1"}}, "resources": {}}',
	'{"tenant": {"name": "evil", "tier": "standard"}, "warehouse": {"database": {"schema_prefix": "victim_"}}, "resources": {}}',
	'{"tenant": {"name": "evil", "tier": "standard"}, "warehouse": {"database": {"schema_prefix": "pg_"}}, "resources": {}}',
	'{"tenant": {"name": "evil", "tier": "standard", "display_name": "' . $inject . '"}, "warehouse": {}, "resources": {}}',
	'{"tenant": {"name": "evil", "tier": "enterprise"}, "warehouse": {"database": {"host": "elsewhere.invalid"}}, "features": {"audit_logging": true}, "resources": {"database": {"connections": {"max": 10000}}}}',
	'{"tenant": {"name": "victim", "tier": "basic"}, "warehouse": {}, "resources": {}}',
	'{"tenant": {"name": "evil2", "tier": "standard"}, "warehouse": {}, "resources": {}}');
my %values = (
	text => [ 'NULL', "'evil'", "'victim'", "'evil2'", "'$inject'", "'pg_execute_server_program'", "'postgres'",
		"''", "repeat('a', 5000)", "'tenant_victim_owner'", "'\$tenancy\$'", "'host=/tmp user=postgres sslpassword=x'",
		"'a: &a [*a, *a]\nb: [*a, *a, *a]'",
		map { my $s = $_; $s =~ s/'/''/g; "'$s'" } @spec_variants ],
	jsonb => [ 'NULL', "'[]'", "'{}'", map { my $s = $_; $s =~ s/'/''/g; "'$s'" } @spec_variants ],
	regclass => [ 'NULL', "'pg_catalog.pg_authid'", "'tenancy.tenants'", "'tenancy.created_objects'",
		"'public.secrets'", "'victim_bronze.t'", "'victim_audit.pipeline_runs'" ],
	name => [ 'NULL', "'tenant'", "'rolsuper'", "'oid'", "'$inject'" ],
	bigint => [ 'NULL', '-1', '0', '1', '2', '9223372036854775807' ],
	integer => [ 'NULL', '-1', '0', '2147483647' ],
	boolean => [ 'NULL', 'true', 'false' ],
	# not longer: tenancy.wait in a subtransaction waits for its own
	# uncommitted operation until the timeout
	interval => [ 'NULL', "'-1 day'", "'0'", "'1 second'" ],
	'timestamp with time zone' => [ 'NULL', "'-infinity'", "'infinity'", "'2000-01-01'" ],
	'text[]' => [ 'NULL', "'{}'", "'{postgres,appdb}'" ],
	oid => [ 'NULL', '0', '10', "'pg_execute_server_program'::regrole::oid", "'admin1'::regrole::oid" ]);
my %baseline = (text => "'evil'", jsonb => "'" . $spec_variants[0] . "'", regclass => "'public.secrets'",
	name => "'tenant'", bigint => '1', integer => '1', boolean => 'true', interval => "'0'",
	'timestamp with time zone' => "'2000-01-01'", 'text[]' => "'{}'", oid => '10');

my @functions = split /\n/, $node->safe_psql('postgres', q{
	SELECT p.oid::regproc || '|' || coalesce(array_to_string(ARRAY(
		SELECT format_type(t, NULL) FROM unnest(p.proargtypes) WITH ORDINALITY AS a(t, n) ORDER BY n), ','), '')
	  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
	 WHERE n.nspname = 'tenancy' AND has_function_privilege('admin1', p.oid, 'EXECUTE')
	   AND p.prorettype <> 'trigger'::regtype ORDER BY 1});
ok(@functions >= 25, scalar(@functions) . ' functions executable by tenancy_admin');

my (@calls, @later);
for my $f (@functions)
{
	my ($fname, $types) = split /\|/, $f, 2;
	my @types = length $types ? split(/,/, $types) : ();
	# a type added later without hostile values here still gets NULL
	my @base = map { $baseline{$_} // 'NULL' } @types;
	push @calls, sprintf('%s(%s)', $fname, join(', ', map { "$base[$_]::$types[$_]" } 0 .. $#types));
	for my $i (0 .. $#types)
	{
		for my $v (@{ $values{ $types[$i] } // ['NULL'] })
		{
			my @args = map { "$base[$_]::$types[$_]" } 0 .. $#types;
			$args[$i] = "${v}::$types[$i]";
			push @calls, sprintf('%s(%s)', $fname, join(', ', @args));
		}
	}
}
# each hostile spec under its own tenant name, name and spec agreeing
for my $i (0 .. $#spec_variants)
{
	my ($tenant) = $spec_variants[$i] =~ /"name": "([a-z0-9]+)"/;
	(my $spec = $spec_variants[$i]) =~ s/"name": "evil"/"name": "ev$i"/;
	$tenant = "ev$i" if $tenant eq 'evil';
	$spec =~ s/'/''/g;
	push @calls, map { "tenancy.$_('$tenant', '$spec'::jsonb)" } qw(plan provision apply);
	push @calls, "tenancy.apply('$tenant', '$spec'::text)", "tenancy.provision('$tenant', '$spec'::text)";
	push @later, "tenancy.deprovision('$tenant')", "tenancy.deprovision('$tenant', true)";
}
# and the operator controls on every operation there is
push @calls, map { ("tenancy.cancel($_)", "tenancy.retry($_)") } 1 .. 4;
push @calls, "tenancy.purge_history('100 years')", "tenancy.deprovision('victim', true)", "tenancy.provision('evil3', '{\"tenant\": {\"name\": \"evil3\", \"tier\": \"standard\"}, \"warehouse\": {}, \"resources\": {}}'::jsonb)";

# DO blocks as admin1, each call in its own subtransaction; the worker runs
# what they enqueued before the next (deprovisions come last: they would
# cancel the steps of the provisions before the worker ran them)
sub hostile
{
	my @batch = @_;
	my $body = join("\n", map {
		"BEGIN PERFORM * FROM $_; n_ok := n_ok + 1; EXCEPTION WHEN OTHERS OR query_canceled THEN n_err := n_err + 1; END;"
	} @batch);
	my ($rc, $out, $err) = $node->psql('postgres', qq{
		SET ROLE admin1;
		SET statement_timeout = '120s';
		DO \$hostile\$
		DECLARE n_ok int := 0; n_err int := 0;
		BEGIN
		$body
		RAISE NOTICE 'hostile calls: % returned, % refused', n_ok, n_err;
		END
		\$hostile\$;});
	is($rc, 0, scalar(@batch) . ' hostile calls made') or diag($err);
	note($err =~ /(hostile calls: [^\n]*)/ ? $1 : $err);

	my $busy = '';
	for (1 .. 600)
	{
		$busy = $node->safe_psql('postgres', q{SELECT count(*) FROM tenancy.operations WHERE state IN ('pending', 'running', 'compensating')});
		last if $busy eq '0';
		sleep(0.1);
	}
	is($busy, '0', 'every operation the calls left has finished');
}
hostile(@calls);
hostile(@later);

# roles that still exist (deprovision drops a tenant's roles: the admin may)
my %after = map { (split /:/)[0] => $_ } split /\n/, $node->safe_psql('postgres', ($roles_sql =~ s/NAMES/$names/r));
my @changed = grep { exists $after{ (split /:/)[0] } && $after{ (split /:/)[0] } ne $_ } split /\n/, $before;
is(join("\n", @changed), '', 'no role that existed before gained a membership, an attribute or a password');
ok(exists $after{admin1} && exists $after{appowner} && exists $after{bystander} && exists $after{etl_evil2},
	'and the roles that are no tenant\'s are all still there');
is($node->safe_psql('postgres', q{SELECT string_agg(rolname, ',') FROM pg_roles
	WHERE (rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls) AND rolname <> current_user}),
	'', 'no privileged role besides the bootstrap superuser');
is($node->safe_psql('postgres', q{SELECT string_agg(m.member::regrole || ' in ' || m.roleid::regrole, ', ')
	FROM pg_auth_members m WHERE m.member >= 16384 AND m.roleid < 16384 AND m.member::regrole::text <> 'etl_evil2'}),
	'', 'no new member of a built-in role');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_authid WHERE rolpassword IS NOT NULL AND rolname <> 'bystander'}),
	'0', 'no password was set');
is($node->safe_psql('postgres', q{SELECT coalesce(datacl::text, 'default') FROM pg_database WHERE datname = 'appdb'}),
	$appdb_acl, 'the grants of a database someone else owns are untouched');
is($node->safe_psql('postgres', q{SELECT relrowsecurity FROM pg_class WHERE oid = 'pg_catalog.pg_authid'::regclass}),
	'f', 'no system catalog was put under row-level security');

done_testing();
