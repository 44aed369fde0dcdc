// Azure's extension allow-list: `azure.extensions` (a server parameter, empty by default) names the extensions its
// users may create; anything else is refused with Azure's text. Stock PostgreSQL has no such parameter, so the
// emulator sets it with ALTER SYSTEM (for SHOW and for the check) and checks every CREATE EXTENSION with an event
// trigger, installed into each database and into template1 (so that databases created later have it too). The
// check reads the value from the configuration file, so that a session's own `SET azure.extensions` changes nothing.
// Extensions that CREATE EXTENSION ... CASCADE adds are created without a command of their own: the check notes which
// extensions exist when the command starts and checks every one that is new when it ends.

/** Installs the check into the database it runs in; idempotent. Send as one simple query. */
export const EXTENSION_CHECK_SQL = `
select pg_advisory_xact_lock(hashtext('pg-entra-emulator extensions'));
create schema if not exists pgaadauth;

create or replace function pgaadauth.note_extensions_before() returns event_trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $fn$
begin
  perform set_config('pgaadauth.extensions_before', (select coalesce(string_agg(oid::text, ','), '') from pg_extension),
    true);
end $fn$;
revoke all on function pgaadauth.note_extensions_before() from public;

create or replace function pgaadauth.check_extension_allow_list() returns event_trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $fn$
declare
  allowed text[];
  before oid[];
  extension text;
begin
  if (select rolsuper from pg_roles where rolname = session_user) then
    return;
  end if;
  select coalesce(array_agg(lower(btrim(item))), '{}') into allowed
    from unnest(string_to_array(coalesce((select f.setting from pg_file_settings f
      where f.name = 'azure.extensions' and f.applied order by f.seqno desc limit 1), ''), ',')) item;
  before := string_to_array(nullif(current_setting('pgaadauth.extensions_before', true), ''), ',')::oid[];
  for extension in select e.extname from pg_extension e
      where e.oid in (select objid from pg_event_trigger_ddl_commands() where command_tag = 'CREATE EXTENSION')
        or (before is not null and e.oid <> all(before))
      order by e.oid loop
    if not (lower(extension) = any(allowed)) then
      raise exception 'extension "%" is not allow-listed for "azure_pg_admin" users in Azure Database for PostgreSQL',
        extension using errcode = '0A000',
        hint = 'to see the full allow list of extensions, please run: "show azure.extensions;"';
    end if;
  end loop;
end $fn$;
revoke all on function pgaadauth.check_extension_allow_list() from public;

do $$ begin
  if not exists (select from pg_event_trigger where evtname = 'pgaadauth_extensions_before') then
    create event trigger pgaadauth_extensions_before on ddl_command_start when tag in ('CREATE EXTENSION')
      execute function pgaadauth.note_extensions_before();
  end if;
  if not exists (select from pg_event_trigger where evtname = 'pgaadauth_extension_allow_list') then
    create event trigger pgaadauth_extension_allow_list on ddl_command_end when tag in ('CREATE EXTENSION')
      execute function pgaadauth.check_extension_allow_list();
  end if;
end $$;
`

/** Extension names as Azure's parameter takes them: letters, digits, `_`, `-` and `.`. */
export function invalidExtensionName(names: readonly string[]): string | undefined {
  return names.find((name) => !/^[A-Za-z0-9_.-]+$/.test(name))
}

/** ALTER SYSTEM takes no parameters: the names are checked by {@link invalidExtensionName} first. */
export function allowListStatement(names: readonly string[]): string {
  return `alter system set azure.extensions = '${names.join(',')}'`
}
