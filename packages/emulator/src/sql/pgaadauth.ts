// The pgaadauth schema, tables and functions installed into the upstream's `postgres` database. Shaped like Azure
// Database for PostgreSQL's: the functions create the login role and record which Entra principal it maps to.
// Azure keeps that mapping in security labels; the emulator keeps it in pgaadauth.principals.

/** Idempotent: safe to run on every start, also against an external server that already has it. Send as one
 * simple query (pg's query() without parameters). */
export const PGAADAUTH_SQL = `
-- One simple-query string runs as one transaction: emulators installing into one server at once take turns.
select pg_advisory_xact_lock(hashtext('pg-entra-emulator pgaadauth'));
create schema if not exists pgaadauth;
revoke all on schema pgaadauth from public;

do $$ begin
  if not exists (select from pg_roles where rolname = 'azure_pg_admin') then
    create role azure_pg_admin nologin createrole createdb;
  end if;
end $$;

-- The tenant's principals, kept in sync by the emulator; pgaadauth_create_principal(name, ...) resolves names here.
create table if not exists pgaadauth.directory (
  oid text primary key,
  name text not null,
  kind text not null check (kind in ('user', 'service', 'group'))
);
create index if not exists directory_lower_name on pgaadauth.directory (lower(name));

-- Which role maps to which principal.
create table if not exists pgaadauth.principals (
  rolname name primary key,
  object_id text not null,
  principal_type text not null check (principal_type in ('user', 'service', 'group')),
  is_admin boolean not null,
  is_mfa boolean not null,
  created_at timestamptz not null default now()
);

-- Dropped first so that a server installed by an older emulator gets the current signatures.
drop function if exists public.pgaadauth_create_principal_with_oid(text, text, text, boolean, boolean);
drop function if exists public.pgaadauth_create_principal(text, boolean, boolean);
drop function if exists public.pgaadauth_list_principals(boolean);

create or replace function pgaadauth._create_role(role_name text, object_id text, object_type text,
  is_admin boolean, is_mfa boolean) returns text
language plpgsql security definer set search_path = pg_catalog, pg_temp as $fn$
begin
  if role_name is null or length(role_name) = 0 then
    raise exception 'Role name must not be empty' using errcode = '22023';
  end if;
  if object_id is null or length(object_id) = 0 then
    raise exception 'Object id must not be empty' using errcode = '22023';
  end if;
  if object_type is null or object_type not in ('user', 'service', 'group') then
    raise exception 'Principal type "%" is invalid', object_type using errcode = '22023',
      hint = 'Valid principal types are user, service and group.';
  end if;
  if exists (select from pg_roles where rolname = role_name) then
    raise exception 'role "%" already exists', role_name using errcode = '42710';
  end if;
  if is_admin then
    execute format('create role %I login createrole createdb in role azure_pg_admin', role_name);
  else
    execute format('create role %I login', role_name);
  end if;
  insert into pgaadauth.principals (rolname, object_id, principal_type, is_admin, is_mfa)
    values (role_name, object_id, object_type, coalesce(is_admin, false), coalesce(is_mfa, false))
    on conflict (rolname) do update set object_id = excluded.object_id, principal_type = excluded.principal_type,
      is_admin = excluded.is_admin, is_mfa = excluded.is_mfa, created_at = now();
  return format('Created role for "%s"', role_name);
end $fn$;
revoke all on function pgaadauth._create_role(text, text, text, boolean, boolean) from public;

create or replace function public.pgaadauth_create_principal_with_oid(roleName text, objectId text,
  objectType text, isAdmin boolean, isMfa boolean) returns text
language sql security definer set search_path = pg_catalog, pg_temp as $fn$
  select pgaadauth._create_role(roleName, objectId, objectType, isAdmin, isMfa)
$fn$;

create or replace function public.pgaadauth_create_principal(roleName text, isAdmin boolean, isMfa boolean)
returns text
language plpgsql security definer set search_path = pg_catalog, pg_temp as $fn$
declare
  found_count int;
  entry pgaadauth.directory%rowtype;
begin
  select count(*) into found_count from pgaadauth.directory where lower(name) = lower(roleName);
  if found_count = 0 then
    raise exception 'Could not find a principal named "%" in Microsoft Entra ID', roleName using errcode = '42704',
      hint = 'Create the principal in the tenant first, or use pgaadauth_create_principal_with_oid.';
  end if;
  if found_count > 1 then
    raise exception 'More than one principal is named "%" in Microsoft Entra ID', roleName using errcode = '42725',
      hint = 'Use pgaadauth_create_principal_with_oid with the object id.';
  end if;
  select * into entry from pgaadauth.directory where lower(name) = lower(roleName);
  return pgaadauth._create_role(roleName, entry.oid, entry.kind, isAdmin, isMfa);
end $fn$;

create or replace function public.pgaadauth_list_principals(isAdminValue boolean)
returns table (rolname name, "principalType" text, "objectId" text, "tenantId" text, "isMfa" int, "isAdmin" int)
language sql security definer set search_path = pg_catalog, pg_temp as $fn$
  select p.rolname, p.principal_type, p.object_id, null::text, p.is_mfa::int, p.is_admin::int
  from pgaadauth.principals p join pg_roles r on r.rolname = p.rolname
  where not isAdminValue or p.is_admin
  order by p.rolname
$fn$;

revoke all on function public.pgaadauth_create_principal_with_oid(text, text, text, boolean, boolean) from public;
revoke all on function public.pgaadauth_create_principal(text, boolean, boolean) from public;
revoke all on function public.pgaadauth_list_principals(boolean) from public;
grant execute on function public.pgaadauth_create_principal_with_oid(text, text, text, boolean, boolean)
  to azure_pg_admin;
grant execute on function public.pgaadauth_create_principal(text, boolean, boolean) to azure_pg_admin;
grant execute on function public.pgaadauth_list_principals(boolean) to azure_pg_admin;
-- Since PostgreSQL 15 only the database owner may create in public; Entra admins may, as on Azure's servers.
grant usage, create on schema public to azure_pg_admin;
`
