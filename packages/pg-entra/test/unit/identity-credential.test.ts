import { describe, expect, it } from 'vitest'
import { resolveCloud } from '../../src/identity/cloud.js'
import {
  buildCredential,
  credentialRetryOptions,
  describePlan,
  type IdentityModule,
  identityKey,
  planCredential,
  planSecrets,
} from '../../src/identity/credential.js'
import { thrown } from './_thrown.js'

const sp = { AZURE_TENANT_ID: 't', AZURE_CLIENT_ID: 'c' }

describe('planCredential', () => {
  it("takes the seed backend's tenantId/clientId/clientSecret", () => {
    const plan = planCredential({ tenantId: 't', clientId: 'c', clientSecret: 's3cret-value' }, {})
    expect(plan).toEqual({
      kind: 'clientSecret',
      tenantId: 't',
      clientId: 'c',
      clientSecret: 's3cret-value',
      from: 'options',
    })
    expect(describePlan(plan)).not.toContain('s3cret')
    expect(identityKey(plan)).toBe('clientSecret:t:c')
    expect(planSecrets(plan)).toEqual(['s3cret-value'])
  })

  it('fills tenantId and clientId from the environment', () => {
    expect(planCredential({ clientSecret: 's' }, sp)).toMatchObject({
      kind: 'clientSecret',
      tenantId: 't',
      clientId: 'c',
    })
    expect(planCredential({ certificatePath: '/c.pem' }, sp)).toMatchObject({
      kind: 'clientCertificate',
      certificatePath: '/c.pem',
    })
    expect(planCredential({ federatedTokenFile: '/f' }, sp)).toMatchObject({
      kind: 'workloadIdentity',
      tokenFilePath: '/f',
    })
  })

  it('names the missing option and its environment variable', () => {
    const error = thrown(() => planCredential({ clientSecret: 's' }, { AZURE_CLIENT_ID: 'c' }))
    expect(error.code).toBe('INVALID_OPTION')
    expect(error.message).toBe('tenantId is required for a service principal with a secret')
    expect(error.hint).toContain('AZURE_TENANT_ID')
    expect(thrown(() => planCredential({ federatedTokenFile: '/f' }, { AZURE_TENANT_ID: 't' })).details.option).toBe(
      'clientId',
    )
    expect(thrown(() => planCredential({ tenantId: 't', clientId: 'c' }, {})).details.option).toBe('clientSecret')
  })

  it('reads the variables @azure/identity reads, in its order', () => {
    expect(planCredential({}, { ...sp, AZURE_CLIENT_SECRET: 'x', AZURE_CLIENT_CERTIFICATE_PATH: '/c' })).toMatchObject({
      kind: 'clientSecret',
      from: 'environment',
    })
    expect(
      planCredential({}, { ...sp, AZURE_CLIENT_CERTIFICATE_PATH: '/c', AZURE_CLIENT_CERTIFICATE_PASSWORD: 'pw' }),
    ).toMatchObject({ kind: 'clientCertificate', certificatePassword: 'pw' })
    expect(planCredential({}, { ...sp, AZURE_FEDERATED_TOKEN_FILE: '/f' })).toMatchObject({ kind: 'workloadIdentity' })
  })

  it('takes a managed identity from options or from its endpoint variables', () => {
    expect(planCredential({ managedIdentity: true }, sp)).toEqual({
      kind: 'managedIdentity',
      userAssigned: undefined,
      from: 'options',
    })
    expect(planCredential({ managedIdentity: { resourceId: '/r' } }, {})).toMatchObject({
      userAssigned: { resourceId: '/r' },
    })
    for (const name of ['IDENTITY_ENDPOINT', 'MSI_ENDPOINT', 'AZURE_POD_IDENTITY_AUTHORITY_HOST']) {
      expect(planCredential({}, { [name]: 'http://127.0.0.1:1' })).toEqual({
        kind: 'managedIdentity',
        userAssigned: undefined,
        from: 'environment',
      })
    }
    const userAssigned = planCredential({}, { IDENTITY_ENDPOINT: 'http://127.0.0.1:1', AZURE_CLIENT_ID: 'mi-client' })
    expect(userAssigned).toMatchObject({ userAssigned: { clientId: 'mi-client' } })
    expect(describePlan(userAssigned)).toBe('user-assigned managed identity clientId mi-client')
  })

  it("keys a shared cache so that no identity ever gets another identity's token", () => {
    const given = { getToken: async () => null }
    expect(identityKey(planCredential({ managedIdentity: { clientId: 'c' } }, {}))).toBe('managedIdentity:clientId=c')
    expect(identityKey(planCredential({ managedIdentity: true }, {}), { WEBSITE_SITE_NAME: 'shop' })).toBe(
      'managedIdentity:system:shop',
    )
    expect(identityKey({ kind: 'given', credential: given })).not.toBe(
      identityKey({ kind: 'given', credential: given }),
    )
    expect(identityKey(planCredential({ certificatePath: '/c' }, sp))).toBe('clientCertificate:t:c')
  })

  it('uses a given credential as is, and DefaultAzureCredential only with nothing else', () => {
    const credential = { getToken: async () => null }
    expect(planCredential({ credential }, { ...sp, AZURE_CLIENT_SECRET: 'x' })).toEqual({ kind: 'given', credential })
    expect(planCredential({}, {})).toEqual({ kind: 'default' })
  })
})

describe('buildCredential', () => {
  function recordingIdentity() {
    const made: { type: string; args: unknown[] }[] = []
    const fake = (type: string) =>
      class {
        constructor(...args: unknown[]) {
          made.push({ type, args })
        }
        async getToken() {
          return null
        }
      }
    const module: IdentityModule = {
      ClientSecretCredential: fake('ClientSecretCredential'),
      ClientCertificateCredential: fake('ClientCertificateCredential'),
      WorkloadIdentityCredential: fake('WorkloadIdentityCredential'),
      ManagedIdentityCredential: fake('ManagedIdentityCredential'),
      DefaultAzureCredential: fake('DefaultAzureCredential'),
    }
    return { made, load: async () => module }
  }

  it('turns instance discovery off and carries the CA for a non-Microsoft authority', async () => {
    const { made, load } = recordingIdentity()
    const cloud = resolveCloud({ authorityHost: 'https://127.0.0.1:9443' })
    await buildCredential(planCredential({ tenantId: 't', clientId: 'c', clientSecret: 's' }, {}), cloud, 'PEM', load)
    expect(made).toEqual([
      {
        type: 'ClientSecretCredential',
        args: [
          't',
          'c',
          's',
          {
            authorityHost: 'https://127.0.0.1:9443',
            retryOptions: credentialRetryOptions,
            disableInstanceDiscovery: true,
            tlsOptions: { ca: 'PEM' },
          },
        ],
      },
    ])
  })

  it('keeps instance discovery for Microsoft authorities and builds every kind', async () => {
    const { made, load } = recordingIdentity()
    const cloud = resolveCloud({ cloud: 'usgov' })
    const authority = { authorityHost: 'https://login.microsoftonline.us', retryOptions: credentialRetryOptions }
    await buildCredential(
      planCredential({ certificatePath: '/c.pem', certificatePassword: 'pw' }, sp),
      cloud,
      undefined,
      load,
    )
    await buildCredential(planCredential({ federatedTokenFile: '/f' }, sp), cloud, undefined, load)
    await buildCredential(planCredential({ managedIdentity: { objectId: 'o' } }, {}), cloud, undefined, load)
    await buildCredential(planCredential({ managedIdentity: true }, {}), cloud, undefined, load)
    await buildCredential(planCredential({}, {}), cloud, undefined, load)
    expect(made).toEqual([
      {
        type: 'ClientCertificateCredential',
        args: ['t', 'c', { certificatePath: '/c.pem', certificatePassword: 'pw' }, authority],
      },
      {
        type: 'WorkloadIdentityCredential',
        args: [{ tenantId: 't', clientId: 'c', tokenFilePath: '/f', ...authority }],
      },
      { type: 'ManagedIdentityCredential', args: [{ objectId: 'o' }] },
      { type: 'ManagedIdentityCredential', args: [{}] },
      { type: 'DefaultAzureCredential', args: [authority] },
    ])
  })

  it('does not load @azure/identity for a given credential', async () => {
    const credential = { getToken: async () => null }
    const load = async (): Promise<IdentityModule> => {
      throw new Error('must not load')
    }
    expect(await buildCredential({ kind: 'given', credential }, resolveCloud({}), undefined, load)).toBe(credential)
  })

  it('builds real @azure/identity credentials without any request', async () => {
    const cloud = resolveCloud({ authorityHost: 'https://127.0.0.1:9' })
    const credential = await buildCredential(
      planCredential({ tenantId: 't', clientId: 'c', clientSecret: 's' }, {}),
      cloud,
      undefined,
    )
    expect(credential.constructor.name).toBe('ClientSecretCredential')
  })
})
