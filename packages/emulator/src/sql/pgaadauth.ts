// The pgaadauth schema, tables and functions installed into the upstream's `postgres` database. Shaped like Azure
// Database for PostgreSQL's: the functions live in pg_catalog, create the login role and record which Entra principal
// it maps to. Azure keeps that mapping in a security label on the role (provider "pgaadauth"); stock PostgreSQL has
// no such provider without a C module, so the emulator keeps it in pgaadauth.role_principals keyed by the role's
// oid (pg_roles.oid), which follows the role exactly as a label does: a rename keeps it, DROP ROLE ends it.

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

-- The tenant the server is attached to (what pgaadauth_list_principals reports as tenantId).
create table if not exists pgaadauth.settings (
  id boolean primary key default true check (id),
  tenant_id text
);

-- Which role maps to which principal: by role oid, as a security label is.
create table if not exists pgaadauth.role_principals (
  role_oid oid primary key,
  object_id text not null,
  principal_type text not null check (principal_type in ('user', 'service', 'group')),
  is_admin boolean not null,
  is_mfa boolean not null,
  tenant_id text,
  created_at timestamptz not null default now()
);

-- A server installed by an older emulator kept mappings by role name: carry them over once.
do $$ begin
  if to_regclass('pgaadauth.principals') is not null then
    insert into pgaadauth.role_principals (role_oid, object_id, principal_type, is_admin, is_mfa)
      select r.oid, p.object_id, p.principal_type, p.is_admin, p.is_mfa
      from pgaadauth.principals p join pg_roles r on r.rolname = p.rolname
      on conflict (role_oid) do nothing;
    drop table pgaadauth.principals;
  end if;
end $$;

-- Dropped first so that a server installed by an older emulator gets the current signatures and places.
drop function if exists public.pgaadauth_create_principal_with_oid(text, text, text, boolean, boolean);
drop function if exists public.pgaadauth_create_principal(text, boolean, boolean);
drop function if exists public.pgaadauth_list_principals(boolean);
drop function if exists pg_catalog.pgaadauth_list_principals(boolean);
drop function if exists pgaadauth._create_role(text, text, text, boolean, boolean);

create or replace function pgaadauth._set_mapping(target oid, object_id text, object_type text,
  is_admin boolean, is_mfa boolean) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $fn$
begin
  if object_id is null or length(object_id) = 0 then
    raise exception 'Object id must not be empty' using errcode = '22023';
  end if;
  if object_type is null or object_type not in ('user', 'service', 'group') then
    raise exception 'Principal type "%" is invalid', object_type using errcode = '22023',
      hint = 'Valid principal types are user, service and group.';
  end if;
  -- mappings of dropped roles, so that a recycled oid never inherits one
  delete from pgaadauth.role_principals p where not exists (select from pg_roles r where r.oid = p.role_oid);
  insert into pgaadauth.role_principals (role_oid, object_id, principal_type, is_admin, is_mfa, tenant_id)
    values (target, object_id, object_type, coalesce(is_admin, false), coalesce(is_mfa, false),
      (select s.tenant_id from pgaadauth.settings s))
    on conflict (role_oid) do update set object_id = excluded.object_id, principal_type = excluded.principal_type,
      is_admin = excluded.is_admin, is_mfa = excluded.is_mfa, tenant_id = excluded.tenant_id, created_at = now();
end $fn$;
revoke all on function pgaadauth._set_mapping(oid, text, text, boolean, boolean) from public;

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
  -- Entra admins may drop and rename the roles they manage, as on Azure (admins themselves are members already)
  if not is_admin then
    begin
      execute format('grant %I to azure_pg_admin with admin option, inherit false, set false', role_name);
    exception when syntax_error then -- before PostgreSQL 16
      execute format('grant %I to azure_pg_admin with admin option', role_name);
    end;
  end if;
  perform pgaadauth._set_mapping((select oid from pg_roles where rolname = role_name), object_id, object_type,
    is_admin, is_mfa);
  return format('Created role for "%s"', role_name);
end $fn$;
revoke all on function pgaadauth._create_role(text, text, text, boolean, boolean) from public;

create or replace function pg_catalog.pgaadauth_create_principal_with_oid(roleName text, objectId text,
  objectType text, isAdmin boolean, isMfa boolean) returns text
language sql security definer set search_path = pg_catalog, pg_temp as $fn$
  select pgaadauth._create_role(roleName, objectId, objectType, isAdmin, isMfa)
$fn$;

create or replace function pg_catalog.pgaadauth_create_principal(roleName text, isAdmin boolean, isMfa boolean)
returns text
language plpgsql security definer set search_path = pg_catalog, pg_temp as $fn$
declare
  found_count int;
  entry pgaadauth.directory%rowtype;
begin
  select count(*) into found_count from pgaadauth.directory where lower(name) = lower(roleName);
  if found_count = 0 then
    raise exception 'Could not validate AAD user % because its name is not found in the tenant.', roleName
      using errcode = '42704',
      hint = 'Create the principal in the tenant first, or use pgaadauth_create_principal_with_oid.';
  end if;
  if found_count > 1 then
    raise exception 'More than one principal is named "%" in Microsoft Entra ID', roleName using errcode = '42725',
      hint = 'Use pgaadauth_create_principal_with_oid with the object id.';
  end if;
  select * into entry from pgaadauth.directory where lower(name) = lower(roleName);
  return pgaadauth._create_role(roleName, entry.oid, entry.kind, isAdmin, isMfa);
end $fn$;

create or replace function pg_catalog.pgaadauth_list_principals(isAdminValue boolean)
returns table (rolname name, "principalType" text, "objectId" text, "tenantId" text, "isMfa" int, "isAdmin" int)
language sql security definer set search_path = pg_catalog, pg_temp as $fn$
  select r.rolname, p.principal_type, p.object_id, coalesce(p.tenant_id, (select s.tenant_id from pgaadauth.settings s)),
    p.is_mfa::int, p.is_admin::int
  from pgaadauth.role_principals p join pg_roles r on r.oid = p.role_oid
  where not isAdminValue or p.is_admin
  order by r.rolname
$fn$;

-- What the front runs in place of SECURITY LABEL FOR "pgaadauth" ON ROLE r IS '...' (see pg-front/security-label.ts).
-- label: 'aadauth,oid=<oid>,type=<user|group|service>[,admin][,mfa]', or null to remove the mapping.
create or replace function pgaadauth.security_label(role_name text, label text) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $fn$
declare
  target oid;
  part text;
  object_id text;
  object_type text;
  admin boolean := false;
  mfa boolean := false;
  parts text[];
begin
  if not (pg_has_role(session_user, 'azure_pg_admin', 'member')
          or (select rolsuper from pg_roles where rolname = session_user)) then
    raise exception 'must be a member of azure_pg_admin to set a pgaadauth security label' using errcode = '42501';
  end if;
  select oid into target from pg_roles where rolname = role_name;
  if target is null then
    raise exception 'role "%" does not exist', role_name using errcode = '42704';
  end if;
  -- As PostgreSQL's own check for SECURITY LABEL ON ROLE (16+): only a superuser labels a superuser; any other role
  -- takes the ADMIN option on it, which an Entra admin holds on the roles it created and on non-admin Entra roles,
  -- not on another admin's.
  if (select rolsuper from pg_roles where oid = target)
     and not (select rolsuper from pg_roles where rolname = session_user) then
    raise exception 'permission denied' using errcode = '42501',
      detail = 'The current user must have the SUPERUSER attribute.';
  end if;
  if not (select rolsuper from pg_roles where rolname = session_user)
     and not pg_has_role(session_user, target, 'USAGE WITH ADMIN OPTION') then
    raise exception 'permission denied' using errcode = '42501',
      detail = format('The current user must have the ADMIN option on role "%s".', role_name);
  end if;
  if label is null then
    delete from pgaadauth.role_principals where role_oid = target;
    return;
  end if;
  parts := string_to_array(label, ',');
  if parts[1] is distinct from 'aadauth' then
    raise exception 'invalid security label "%"', label using errcode = '22023',
      hint = 'pgaadauth labels read aadauth,oid=<object id>,type=<user|group|service>[,admin]';
  end if;
  foreach part in array parts[2:] loop
    if part like 'oid=%' then object_id := substr(part, 5);
    elsif part like 'type=%' then object_type := substr(part, 6);
    elsif part = 'admin' then admin := true;
    elsif part = 'mfa' then mfa := true;
    else
      raise exception 'invalid security label "%"', label using errcode = '22023',
        hint = 'pgaadauth labels read aadauth,oid=<object id>,type=<user|group|service>[,admin]';
    end if;
  end loop;
  perform pgaadauth._set_mapping(target, object_id, object_type, admin, mfa);
end $fn$;
revoke all on function pgaadauth.security_label(text, text) from public;
grant usage on schema pgaadauth to public;
grant execute on function pgaadauth.security_label(text, text) to public;

revoke all on function pg_catalog.pgaadauth_create_principal_with_oid(text, text, text, boolean, boolean) from public;
revoke all on function pg_catalog.pgaadauth_create_principal(text, boolean, boolean) from public;
revoke all on function pg_catalog.pgaadauth_list_principals(boolean) from public;
grant execute on function pg_catalog.pgaadauth_create_principal_with_oid(text, text, text, boolean, boolean)
  to azure_pg_admin;
grant execute on function pg_catalog.pgaadauth_create_principal(text, boolean, boolean) to azure_pg_admin;
grant execute on function pg_catalog.pgaadauth_list_principals(boolean) to azure_pg_admin;
-- Since PostgreSQL 15 only the database owner may create in public; Entra admins may, as on Azure's servers.
grant usage, create on schema public to azure_pg_admin;
-- Azure's admins create schemas and (allow-listed) extensions in this database.
do $$ begin
  execute format('grant create on database %I to azure_pg_admin', current_database());
end $$;
`
