// Azure's extension allow-list: `azure.extensions` (a server parameter, empty by default) names the extensions its
// users may create; anything else is refused with Azure's text. Stock PostgreSQL has no such parameter, so the
// emulator sets it with ALTER SYSTEM (for SHOW and for the check) and checks every CREATE EXTENSION with an event
// trigger, installed into each database and into template1 (so that databases created later have it too). The
// check reads the value from the configuration file, so that a session's own `SET azure.extensions` changes nothing.

/** Installs the check into the database it runs in; idempotent. Send as one simple query. */
export const EXTENSION_CHECK_SQL = `
select pg_advisory_xact_lock(hashtext('pg-entra-emulator extensions'));
create schema if not exists pgaadauth;

create or replace function pgaadauth.check_extension_allow_list() returns event_trigger
language plpgsql security definer set search_path = pg_catalog, pg_temp as $fn$
declare
  command record;
  allowed text[];
  extension text;
begin
  if (select rolsuper from pg_roles where rolname = session_user) then
    return;
  end if;
  select coalesce(array_agg(lower(btrim(item))), '{}') into allowed
    from unnest(string_to_array(coalesce((select f.setting from pg_file_settings f
      where f.name = 'azure.extensions' and f.applied order by f.seqno desc limit 1), ''), ',')) item;
  for command in select * from pg_event_trigger_ddl_commands() where command_tag = 'CREATE EXTENSION' loop
    select e.extname into extension from pg_extension e where e.oid = command.objid;
    if not (lower(extension) = any(allowed)) then
      raise exception 'extension "%" is not allow-listed for "azure_pg_admin" users in Azure Database for PostgreSQL',
        extension using errcode = '0A000',
        hint = 'to see the full allow list of extensions, please run: "show azure.extensions;"';
    end if;
  end loop;
end $fn$;
revoke all on function pgaadauth.check_extension_allow_list() from public;

do $$ begin
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
