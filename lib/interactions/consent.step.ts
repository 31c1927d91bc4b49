import type Koa from 'koa';
import type Provider from 'oidc-provider';
import type { AccountService } from '../accounts/accounts.service.js';
import type { ClientQueries } from '../clients/clients.queries.js';
import type { ConsentService } from '../consents/consents.service.js';
import type { OrgService } from '../orgs/orgs.service.js';
import type { ResourceService } from '../resources/resources.service.js';
import type { Renderer } from '../views/renderer.js';
import { finishInteraction, InteractionExpired, type Interaction } from './interaction-context.js';
import { field, renderPage } from './page.js';
import { metadataDocumentHost } from '../oidc/client-metadata-documents.js';

/** The consent step: names the app (and says when it registered itself) and what it asks for. */
const SCOPE_DESCRIPTIONS: Record<string, string> = {
  openid: 'Know who you are',
  profile: 'See your name',
  email: 'See your e-mail address and whether it is confirmed',
  offline_access: 'Stay connected when you are not using it',
};

type ConsentDetails = { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };

export function createConsentStep(deps: {
  provider: Provider;
  renderer: Renderer;
  accounts: AccountService;
  consents: ConsentService;
  clients: ClientQueries;
  resources: ResourceService;
  orgs: OrgService;
}) {
  const { provider, renderer, accounts, consents, clients, resources, orgs } = deps;

  return {
    async show(ctx: Koa.Context, interaction: Interaction) {
      const details = interaction.prompt.details as ConsentDetails;
      const clientId = String(interaction.params.client_id);
      const accountId = interaction.session!.accountId;
      const [client, row, account, organizations, remembered] = await Promise.all([
        provider.Client.find(clientId),
        clients.find(clientId),
        accounts.findById(accountId),
        orgs.list(accountId),
        consents.find(accountId, clientId),
      ]);
      if (!client || !account) throw new InteractionExpired();
      const resourceList = await Promise.all(
        Object.entries(details.missingResourceScopes ?? {}).map(async ([identifier, scopes]) => ({
          name: (await resources.find(identifier))?.name ?? identifier,
          scopes,
        })),
      );
      const redirectHost = client.redirectUris?.[0] ? URL.parse(client.redirectUris[0])?.host : undefined;
      const links = [
        client.policyUri && { href: client.policyUri, label: 'Privacy policy' },
        client.tosUri && { href: client.tosUri, label: 'Terms of service' },
      ].filter(Boolean);
      renderPage(ctx, renderer, 'pages/consent', {
        uid: interaction.uid,
        clientName: client.clientName ?? clientId,
        dynamic: row?.source === 'dynamic',
        // an https URL as client_id: the app is whoever publishes that document
        metadataHost: (client as { clientIdMetadataDocument?: boolean }).clientIdMetadataDocument ? metadataDocumentHost(clientId) : undefined,
        clientHost: redirectHost,
        accountEmail: account.email,
        scopes: (details.missingOIDCScope ?? []).map((s) => SCOPE_DESCRIPTIONS[s] ?? s),
        resources: resourceList,
        links,
        // with several organizations the person picks the one this app acts for
        organizations: organizations.length > 1 ? organizations : [],
        selectedOrg: remembered?.orgId ?? organizations.find((o) => o.active)?.id,
      });
    },

    async submit(ctx: Koa.Context, interaction: Interaction) {
      if (field(ctx.request.body, 'decision') !== 'allow') {
        await finishInteraction(ctx, interaction, { error: 'access_denied', error_description: 'the person denied the request' });
        return;
      }
      const details = interaction.prompt.details as ConsentDetails;
      const accountId = interaction.session!.accountId;
      const clientId = String(interaction.params.client_id);
      const grant = (interaction.grantId && (await provider.Grant.find(interaction.grantId))) || new provider.Grant({ accountId, clientId });
      if (details.missingOIDCScope?.length) grant.addOIDCScope(details.missingOIDCScope.join(' '));
      if (details.missingOIDCClaims?.length) grant.addOIDCClaims(details.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
      const chosenOrg = field(ctx.request.body, 'org', 64);
      // only an organization the person belongs to; anything else is ignored, not trusted
      const orgId = chosenOrg && (await orgs.list(accountId)).some((o) => o.id === chosenOrg) ? chosenOrg : undefined;
      const grantId = await grant.save();
      await consents.remember(accountId, clientId, { scopes: details.missingOIDCScope ?? [], resourceScopes: details.missingResourceScopes ?? {}, orgId });
      await finishInteraction(ctx, interaction, { consent: { grantId } }, true);
    },
  };
}
