import { apiKeyExchange, apiKeyWhoami } from './api-keys.js';
import { clientCredentialsJwt } from './client-credentials-jwt.js';
import { clientCredentialsOpaque } from './client-credentials-opaque.js';
import { deviceFlow } from './device-flow.js';
import { discoveryDocument, jwksDocument } from './discovery.js';
import { introspectionWithHint, introspectionWithoutHint } from './introspection.js';
import { passwordFlow } from './password-flow.js';
import { refreshRotation } from './refresh-rotation.js';
import type { Scenario, ScenarioEntry } from './types.js';

/** Every scenario of the issue, in its order; growth (9) re-runs the ones listed below. */
export const SCENARIOS: ScenarioEntry[] = [
  clientCredentialsJwt,
  clientCredentialsOpaque,
  introspectionWithHint,
  introspectionWithoutHint,
  apiKeyWhoami,
  apiKeyExchange,
  refreshRotation,
  passwordFlow,
  deviceFlow,
  discoveryDocument,
  jwksDocument,
];

export const GROWTH_SCENARIOS: Scenario[] = [clientCredentialsJwt, introspectionWithoutHint];

export const growthId = (scenario: Scenario) => `9/${scenario.id}`;

/** Every id a complete report contains. */
export function expectedScenarioIds(): string[] {
  return [...SCENARIOS.map((s) => s.id), ...GROWTH_SCENARIOS.map(growthId)];
}
