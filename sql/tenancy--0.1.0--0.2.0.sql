-- tenancy 0.1.0 -> 0.2.0
--
-- Every catalog change of 0.2.0, in the order of sql/install/: a database
-- upgraded with ALTER EXTENSION tenancy UPDATE ends with the same catalog as
-- a fresh CREATE EXTENSION tenancy VERSION '0.2.0'.

\echo Use "ALTER EXTENSION tenancy UPDATE TO '0.2.0'" to load this file. \quit
