# 068_trust_admin_role.pl: a tenancy_admin someone else shaped before the
# extension existed is refused.  From PostgreSQL 16 a role with CREATEROLE
# that creates tenancy_admin keeps ADMIN OPTION on it, and could grant it
# to itself once CREATE EXTENSION has given it its powers.  The install
# (and the upgrade from 0.1.0) accept an existing tenancy_admin only when
# it is NOLOGIN without attributes, a member of no role, and no member but
# a superuser holds it WITH ADMIN OPTION.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TenancyTest;

my $node = PostgreSQL::Test::Cluster->new('trust_admin_role');
$node->init;
$node->append_conf('postgresql.conf', join("\n", TenancyTest::node_conf(undef)) . "\n");
$node->start;
my $version = $node->safe_psql('postgres', 'SHOW server_version_num');

sub create_extension
{
	my ($rc, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION tenancy',
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return $rc == 0 ? 'created' : $err;
}

# the attack as PostgreSQL 16 and later allow it: mallory (CREATEROLE)
# creates the role first; 15 records no grant for it, so there the
# superuser gives mallory what 16 would have
$node->safe_psql('postgres', 'CREATE ROLE mallory LOGIN CREATEROLE');
$node->safe_psql('postgres', 'SET ROLE mallory; CREATE ROLE tenancy_admin NOLOGIN');
$node->safe_psql('postgres', 'GRANT tenancy_admin TO mallory WITH ADMIN OPTION') if $version < 160000;
like(create_extension(), qr/ERROR:  42710: role tenancy_admin exists and cannot be trusted as tenancy's.*DETAIL:  mallory holds it WITH ADMIN OPTION\..*HINT:  As a superuser, DROP ROLE tenancy_admin/s,
	'CREATE EXTENSION refuses a tenancy_admin that mallory holds WITH ADMIN OPTION, saying who and what to do');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_extension WHERE extname = 'tenancy'}), '0',
	'and creates nothing');

# a role that can log in, or is a member of another role: refused too
$node->safe_psql('postgres', 'RESET ROLE; DROP ROLE tenancy_admin; CREATE ROLE tenancy_admin LOGIN');
like(create_extension(), qr/ERROR:  42710: .*DETAIL:  it can log in or has attributes/s, 'a tenancy_admin that can log in is refused');
$node->safe_psql('postgres', 'ALTER ROLE tenancy_admin NOLOGIN; GRANT mallory TO tenancy_admin');
like(create_extension(), qr/ERROR:  42710: .*DETAIL:  it is a member of mallory\./s, 'a tenancy_admin that is a member of another role is refused');

# the DBA's own role, granted to people without ADMIN OPTION: used as it is
$node->safe_psql('postgres', 'REVOKE mallory FROM tenancy_admin; CREATE ROLE ops LOGIN IN ROLE tenancy_admin');
is(create_extension(), 'created', 'a clean tenancy_admin with plain members is used');
is($node->safe_psql('postgres', q{SELECT pg_has_role('ops', 'tenancy_admin', 'MEMBER')}), 't',
	'its members keep their membership');

# DROP and CREATE EXTENSION again: the role tenancy created is accepted
$node->safe_psql('postgres', 'DROP EXTENSION tenancy');
is(create_extension(), 'created', 'CREATE EXTENSION after DROP EXTENSION accepts its own role');

$node->stop;
done_testing();
